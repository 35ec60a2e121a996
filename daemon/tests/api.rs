//! The HTTP API, driven for real on 127.0.0.1:0: authentication, ingest,
//! idempotent resend, segment scoping, every bad-input case, revocation.

mod common;

use common::{ADMIN, Daemon, batch};
use reqwest::Method;

fn enc(b: &census_proto::Batch) -> Vec<u8> {
    census_proto::encode_batch(b)
}

async fn observation_count(d: &Daemon, ip: &str) -> i64 {
    let (status, v) = d.admin_json(Method::GET, &format!("/api/v1/hosts/{ip}"), None).await;
    if status == 404 { 0 } else { v["observations"].as_i64().unwrap() }
}

#[tokio::test]
async fn only_healthz_answers_without_a_token() {
    let d = Daemon::start().await;
    assert_eq!(d.req(Method::GET, "/healthz", None, None).await.status(), 200);
    for (m, p) in [
        (Method::GET, "/api/v1/assets"),
        (Method::GET, "/api/v1/agents"),
        (Method::POST, "/api/v1/batches"),
        (Method::GET, "/api/v1/register/export"),
        (Method::GET, "/api/v1/hosts/198.18.0.10"),
    ] {
        assert_eq!(d.req(m.clone(), p, None, None).await.status(), 401, "{p} without a token");
        assert_eq!(d.req(m, p, Some("census_wrong"), None).await.status(), 401, "{p} with a wrong token");
    }
    d.stop().await;
}

#[tokio::test]
async fn ingest_is_idempotent_and_keeps_history() {
    let d = Daemon::start().await;
    let token = d.add_agent("agent-1", &["198.18.0.0/24"]).await;
    let b = batch("agent-1", &["198.18.0.10", "198.18.0.11"]);
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&b))).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["stored"].as_u64(), v["duplicate"].as_bool()), (Some(2), Some(false)));
    // Resent: acknowledged, not stored twice.
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&b))).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["stored"].as_u64(), v["duplicate"].as_bool()), (Some(0), Some(true)));
    assert_eq!(observation_count(&d, "198.18.0.10").await, 1);
    // A later batch with another open port records what changed.
    let mut b2 = batch("agent-1", &["198.18.0.10"]);
    b2.hosts[0].ports.push(census_proto::PortObservation {
        port: census_proto::Port(443),
        protocol: census_proto::TransportProtocol::Tcp,
        state: census_proto::PortState::Open,
        service: None,
    });
    assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&b2))).await.status(), 200);
    let (_, host) = d.admin_json(Method::GET, "/api/v1/hosts/198.18.0.10", None).await;
    assert_eq!(host["observations"], 2);
    assert_eq!(host["last_agent"], "agent-1");
    let change = &host["changes"][0];
    assert_eq!(
        (change["kind"].as_str(), change["old"].as_str(), change["new"].as_str()),
        (Some("ports"), Some("22"), Some("22,443"))
    );
    d.stop().await;
}

/// Regression (review of 2026-12-07): the host view and whois showed the
/// agent's spelling of the MAC (`00-1B-21-…`) and of a mapped address,
/// where everything else shows `00:1b:21:…` and the address as stored.
#[tokio::test]
async fn a_host_is_shown_in_one_spelling_whatever_the_agent_sent() {
    let d = Daemon::start().await;
    let token = d.add_agent("agent-1", &["198.18.0.0/24"]).await;
    let b = batch("agent-1", &["198.18.0.10"]);
    let text = String::from_utf8(enc(&b)).unwrap();
    assert!(text.contains("\"00:1b:21:00:00:00\"") && text.contains("\"198.18.0.10\""), "{text}");
    let sent = text
        .replace("\"00:1b:21:00:00:00\"", "\"00-1B-21-00-00-00\"")
        .replace("\"198.18.0.10\"", "\"::ffff:198.18.0.10\"");
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(sent.into_bytes())).await;
    assert_eq!(r.status(), 200);
    let (_, host) = d.admin_json(Method::GET, "/api/v1/hosts/198.18.0.10", None).await;
    assert_eq!(host["mac"], "00:1b:21:00:00:00", "{host}");
    assert_eq!(host["latest"]["mac"]["address"], "00:1b:21:00:00:00", "{host}");
    assert_eq!(host["latest"]["ip"], "198.18.0.10", "{host}");
    let (status, mapped) = d.admin_json(Method::GET, "/api/v1/hosts/::ffff:198.18.0.10", None).await;
    assert_eq!((status, &mapped["ip"]), (200, &serde_json::json!("198.18.0.10")), "asked for as it was sent: {mapped}");
    let (_, who) = d.admin_json(Method::GET, "/api/v1/whois?q=001B.2100.0000", None).await;
    let observation = &who["hosts"][0]["observation"];
    assert_eq!(observation["mac"]["address"], "00:1b:21:00:00:00", "{who}");
    assert_eq!(observation["ip"], "198.18.0.10", "{who}");
    d.stop().await;
}

/// Regression (review of 2026-12-07): keys Census does not read, inside an
/// object of an observation, escaped every size cap: a `mac` object with a
/// 3 MB extra key was stored and shown whole. A small unknown key (a newer
/// agent's field) is still kept as sent.
#[tokio::test]
async fn an_observation_padded_with_unread_keys_is_kept_as_census_reads_it() {
    let d = Daemon::start().await;
    let token = d.add_agent("agent-1", &["198.18.0.0/24"]).await;
    let b = batch("agent-1", &["198.18.0.10", "198.18.0.11"]);
    let mut v: serde_json::Value = serde_json::from_slice(&enc(&b)).unwrap();
    v["hosts"][0]["mac"]["padding"] = serde_json::json!("B".repeat(300_000));
    v["hosts"][1]["mac"]["from_a_newer_agent"] = serde_json::json!("small");
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(serde_json::to_vec(&v).unwrap())).await;
    assert_eq!(r.status(), 200);
    let (_, padded) = d.admin_json(Method::GET, "/api/v1/hosts/198.18.0.10", None).await;
    assert_eq!(padded["latest"]["mac"]["address"], "00:1b:21:00:00:00", "{}", padded["latest"]);
    assert!(padded["latest"]["mac"].get("padding").is_none(), "the padding is not stored");
    assert!(padded.to_string().len() < 10_000, "{} bytes", padded.to_string().len());
    let (_, newer) = d.admin_json(Method::GET, "/api/v1/hosts/198.18.0.11", None).await;
    assert_eq!(newer["latest"]["mac"]["from_a_newer_agent"], "small", "{}", newer["latest"]);
    d.stop().await;
}

#[tokio::test]
async fn observations_outside_the_agents_segments_are_rejected_and_reported() {
    let d = Daemon::start().await;
    let token = d.add_agent("agent-1", &["198.18.0.0/24"]).await;
    let b = batch("agent-1", &["198.18.0.10", "198.18.5.10"]);
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&b))).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["stored"], 1);
    assert_eq!(v["rejected"][0]["ip"], "198.18.5.10");
    assert!(v["rejected"][0]["reason"].as_str().unwrap().contains("outside"));
    assert_eq!(observation_count(&d, "198.18.5.10").await, 0);
    d.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_stores_nothing() {
    let d = Daemon::start_with_limit(64 * 1024).await;
    let token = d.add_agent("agent-1", &["198.18.0.0/24"]).await;
    let good = batch("agent-1", &["198.18.0.10"]);

    // Malformed JSON, naming the field.
    let mut v: serde_json::Value = serde_json::from_slice(&enc(&good)).unwrap();
    v["hosts"][0]["mac"]["address"] = "zz:00".into();
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(v.to_string().into_bytes())).await;
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["field"], "hosts[0].mac.address");
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(b"{not json".to_vec())).await;
    assert_eq!(r.status(), 400);

    // Too large.
    let big: Vec<&str> = (0..2000).map(|_| "198.18.0.10").collect();
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&batch("agent-1", &big)))).await;
    assert_eq!(r.status(), 413);

    // Unknown major version.
    let mut v: serde_json::Value = serde_json::from_slice(&enc(&good)).unwrap();
    v["schema_version"] = "2.0".into();
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(v.to_string().into_bytes())).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("unsupported schema version 2.0"));

    // Someone else's agent id.
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&batch("agent-2", &["198.18.0.10"])))).await;
    assert_eq!(r.status(), 403);

    // Wrong token.
    let r = d.req(Method::POST, "/api/v1/batches", Some("census_0000"), Some(enc(&good))).await;
    assert_eq!(r.status(), 401);

    assert_eq!(observation_count(&d, "198.18.0.10").await, 0, "nothing partial was stored");

    // Revoked token.
    assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&good))).await.status(), 200);
    assert_eq!(d.req(Method::DELETE, "/api/v1/agents/agent-1", Some(ADMIN), None).await.status(), 204);
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(enc(&batch("agent-1", &["198.18.0.11"])))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(observation_count(&d, "198.18.0.11").await, 0);
    let (_, agents) = d.admin_json(Method::GET, "/api/v1/agents", None).await;
    assert!(agents[0]["revoked_ms"].is_i64());
    d.stop().await;
}

/// Regression (break attempt on PostgreSQL): a NUL byte in a lookup — a
/// whois query, a tag in a path, a filter, a sign-in name — failed the
/// statement there (500, "invalid byte sequence for encoding UTF8: 0x00")
/// where SQLite answered as if the NUL were not there. Now refused alike.
#[tokio::test]
async fn a_nul_byte_in_a_path_query_or_sign_in_name_is_refused_alike_on_every_store() {
    let d = Daemon::start().await;
    for path in [
        "/api/v1/whois?q=asset-00001%00",
        "/api/v1/assets/asset-00001%00",
        "/api/v1/assets/asset-00001%00/history",
        "/api/v1/audit?actor=adm%00in",
        "/api/v1/alerts?tag=a%00",
        "/api/v1/users/ann%00",
    ] {
        let (status, v) = d.admin_json(Method::GET, path, None).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains("NUL byte"), "{path}: {v}");
    }
    let (status, v) = d.admin_json(Method::DELETE, "/api/v1/agents/agent%00", None).await;
    assert_eq!(status, 400, "{v}");
    // `%2500` is the text `%00`, not a NUL: an ordinary unknown query.
    let (status, v) = d.admin_json(Method::GET, "/api/v1/whois?q=asset%2500", None).await;
    assert_ne!(status, 500, "{v}");
    assert!(!v["error"].as_str().unwrap_or("").contains("NUL byte"), "{v}");
    // A sign-in name holding a NUL is no one's: refused as a wrong sign-in.
    let body = br#"{"name":"ad\u0000min","password":"long-enough-password"}"#.to_vec();
    let r = d.req(Method::POST, "/api/v1/login", None, Some(body)).await;
    assert_eq!(r.status(), 401);
    // The daemon still answers.
    assert_eq!(d.admin_json(Method::GET, "/api/v1/agents", None).await.0, 200);
    d.stop().await;
}

/// Regression (break attempt, 2026-12-05): a whois query over 253
/// characters was told to "give an IP address, a MAC or a host name", not
/// its limit; a miss did not say serial numbers and external ids were tried.
#[tokio::test]
async fn whois_refusals_name_the_limit_and_a_miss_names_every_key_tried() {
    let d = Daemon::start().await;
    let (status, v) = d.admin_json(Method::GET, &format!("/api/v1/whois?q={}", "a".repeat(254)), None).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("q")), "{v}");
    let text = v["error"].as_str().unwrap();
    assert!(text.contains("at most 253 characters") && text.contains("has 254"), "{v}");
    // 200 accented characters (400 bytes) are a query — an external id may be as long — not refused.
    let (status, v) = d.admin_json(Method::GET, &format!("/api/v1/whois?q=x:{}", "%C3%A9".repeat(200)), None).await;
    assert_eq!(status, 404, "{v}");
    let text = v["error"].as_str().unwrap();
    assert!(text.contains("tag, MAC, address, serial number, external id or name"), "{v}");
    // Control characters and a NUL: refused naming `q`, not searched for without them.
    for (q, says) in [("abc%07def", "control characters"), ("ab%0Acd", "control characters"), ("abc%00def", "NUL byte")]
    {
        let (status, v) = d.admin_json(Method::GET, &format!("/api/v1/whois?q={q}"), None).await;
        assert_eq!((status, v["field"].as_str()), (400, Some("q")), "{q}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{q}: {v}");
    }
    let (status, v) = d.admin_json(Method::GET, "/api/v1/whois?q=%20", None).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("a serial number, an external id (SYSTEM:ID)"), "{v}");
    d.stop().await;
}

#[tokio::test]
async fn agent_names_and_segments_are_validated() {
    let d = Daemon::start().await;
    let (s, e) = d
        .admin_json(
            Method::POST,
            "/api/v1/agents",
            Some(serde_json::json!({"name": "a b", "segments": ["198.18.0.0/24"]})),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("name")));
    let (s, e) = d
        .admin_json(
            Method::POST,
            "/api/v1/agents",
            Some(serde_json::json!({"name": "a", "segments": ["198.18.0.0/33"]})),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("segments[0]")));
    let (s, e) =
        d.admin_json(Method::POST, "/api/v1/agents", Some(serde_json::json!({"name": "a", "segmentz": []}))).await;
    assert_eq!(s, 400, "{e}");
    d.add_agent("a", &["198.18.0.0/24"]).await;
    let (s, _) = d
        .admin_json(
            Method::POST,
            "/api/v1/agents",
            Some(serde_json::json!({"name": "a", "segments": ["198.18.0.0/24"]})),
        )
        .await;
    assert_eq!(s, 409);
    d.stop().await;
}

#[tokio::test]
async fn an_agents_token_rotates_with_an_optional_overlap_even_after_revocation() {
    let d = Daemon::start().await;
    let old = d.add_agent("rot-1", &["198.18.0.0/24"]).await;
    let post = |token: String| {
        let d = &d;
        async move {
            let b = batch("rot-1", &["198.18.0.7"]);
            d.req(Method::POST, "/api/v1/batches", Some(&token), Some(census_proto::encode_batch(&b))).await.status()
        }
    };
    let (s, v) =
        d.admin_json(Method::POST, "/api/v1/agents/rot-1/rotate", Some(serde_json::json!({"overlap": "1h"}))).await;
    assert_eq!(s, 200, "{v}");
    let new = v["token"].as_str().unwrap().to_string();
    assert_eq!(post(new.clone()).await, 200);
    assert_eq!(post(old.clone()).await, 200, "the old token works during the overlap");
    let (_, v) = d.admin_json(Method::POST, "/api/v1/agents/rot-1/rotate", None).await;
    let newer = v["token"].as_str().unwrap().to_string();
    assert_eq!(post(new).await, 401, "no overlap: the previous token stops at once");
    assert_eq!(post(old).await, 401);
    // A revoked agent is rotated back into service under its own name (its spooled batches still deliver).
    assert_eq!(d.req(Method::DELETE, "/api/v1/agents/rot-1", Some(ADMIN), None).await.status(), 204);
    assert_eq!(post(newer.clone()).await, 401);
    let (s, v) = d.admin_json(Method::POST, "/api/v1/agents/rot-1/rotate", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(post(v["token"].as_str().unwrap().to_string()).await, 200);
    let (s, _) = d.admin_json(Method::POST, "/api/v1/agents/nobody/rotate", None).await;
    assert_eq!(s, 404);
    d.stop().await;
}

/// Regression (review of 2026-12-08): `GET /api/v1/hosts/<5,000
/// characters>` answered its 400 with the whole path in it; what an error
/// echoes is cut at 2,000 characters, saying how much more there was.
#[tokio::test]
async fn an_error_answer_echoes_a_long_path_segment_cut() {
    let d = Daemon::start().await;
    let r = d.req(Method::GET, &format!("/api/v1/hosts/{}", "a".repeat(5_000)), Some(ADMIN), None).await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    let error = v["error"].as_str().unwrap();
    assert!(error.ends_with("… (3023 more characters not shown)"), "{error}");
    assert!(error.len() < 2_100, "{}", error.len());
    assert_eq!(v["field"], "ip");
    d.stop().await;
}

/// Regression (review of 2026-12-08): a host listing one group MAC among
/// its conflicting MACs was refused whole ("stored 0"), its real sighting
/// and the conflict evidence lost. The host is stored; the receipt names
/// what was set aside; whois finds the usable conflicting MAC.
#[tokio::test]
async fn a_group_conflicting_mac_is_set_aside_and_the_host_stored() {
    let d = Daemon::start().await;
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    let mut b = batch("a1", &["198.18.0.20"]);
    b.hosts[0].conflicting_macs = ["00:1b:21:00:00:77", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff"]
        .iter()
        .map(|m| census_proto::MacInfo::new(m.parse().unwrap()))
        .collect();
    let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(census_proto::encode_batch(&b))).await;
    assert_eq!(r.status(), 200);
    let receipt: serde_json::Value = r.json().await.unwrap();
    assert_eq!(receipt["stored"], 1, "{receipt}");
    assert_eq!(receipt["rejected"], serde_json::json!([]), "{receipt}");
    assert_eq!(receipt["set_aside"][0]["ip"], "198.18.0.20", "{receipt}");
    let why = receipt["set_aside"][0]["reason"].as_str().unwrap();
    assert!(why.starts_with("conflicting MAC 01:00:5e:00:00:01, ff:ff:ff:ff:ff:ff set aside"), "{why}");
    d.settle().await;
    let (status, w) = d.admin_json(Method::GET, "/api/v1/whois?q=00-1b-21-00-00-77", None).await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["hosts"][0]["ip"], "198.18.0.20", "{w}");
    assert!(w["verdict"].as_str().unwrap().contains("answered for 198.18.0.20 beside"), "{w}");
    d.stop().await;
}

/// Regression (review of 2026-12-08): the history of a tag no asset ever
/// had answered 200 `[]`; it is a 404. A deleted asset's history stays.
#[tokio::test]
async fn the_history_of_a_tag_nothing_ever_had_is_not_found() {
    let d = Daemon::start().await;
    let (status, v) = d.admin_json(Method::GET, &format!("/api/v1/assets/{}/history", "N".repeat(5_000)), None).await;
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().len() < 2_100, "{v}");
    let a = serde_json::json!({ "tag": "H-1", "name": "h", "type": "server", "lifecycle": "deployed" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    assert_eq!(d.admin_json(Method::DELETE, "/api/v1/assets/H-1", None).await.0, 204);
    let (status, v) = d.admin_json(Method::GET, "/api/v1/assets/H-1/history", None).await;
    assert_eq!(status, 200, "{v}");
    assert!(!v.as_array().unwrap().is_empty(), "a deleted asset's history stays: {v}");
    d.stop().await;
}
