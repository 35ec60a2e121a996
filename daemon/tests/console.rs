//! The web console over HTTP, as a browser sends it (cookies, forms): sign-in
//! and its cookie, the review queue, a bulk acknowledgement recorded per
//! alert under the person, CSRF and cross-site refusals, a viewer's
//! read-only queue, escaping of hostile text, the security headers and
//! sign-out ending the session. (Driving a real browser is tests/browser.)

mod common;

use common::{ADMIN, Daemon, batch};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Sign in; returns the session cookie (`census_session=…`).
async fn sign_in(d: &Daemon, name: &str, password: &str) -> String {
    let r = browser()
        .post(format!("{}/login", d.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("name={name}&password={}&next=%2F", password.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name} signs in");
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "no Secure flag without TLS: {set}");
    set.split(';').next().unwrap().to_string()
}

async fn get(d: &Daemon, path: &str, cookie: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = browser().get(format!("{}{path}", d.base)).header(COOKIE, cookie).send().await.unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.text().await.unwrap())
}

async fn post_form(d: &Daemon, path: &str, cookie: &str, form: &str, origin: Option<&str>) -> reqwest::Response {
    let mut r = browser()
        .post(format!("{}{path}", d.base))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.to_string());
    if let Some(o) = origin {
        r = r.header(ORIGIN, o);
    }
    r.send().await.unwrap()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..at + 32].to_string()
}

#[tokio::test]
async fn sign_in_review_and_bulk_acknowledge_as_the_person_with_forms_that_cannot_be_forged() {
    let d = Daemon::start().await;
    for (name, role) in [("ana", "analyst"), ("vic", "viewer")] {
        let body = json!({ "name": name, "role": role, "password": "a long enough password" });
        assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    }
    let hostile = json!({ "tag": "SRV-X", "name": "<script>alert(1)</script>", "type": "server",
        "owner": "ops", "lifecycle": "deployed", "macs": ["00:1b:21:00:00:99"] });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(hostile)).await.0, 201);
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    let ips = ["198.18.0.10", "198.18.0.11", "198.18.0.12", "198.18.0.13"];
    for _ in 0..2 {
        let body = census_proto::encode_batch(&batch("a1", &ips));
        assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await.status(), 200);
    }
    d.settle().await;
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts?kind=unknown-asset", None).await;
    let ids: Vec<i64> = alerts.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(ids.len() >= 4, "unknown devices raised: {alerts}");

    // Not signed in: the queue sends to the sign-in page, and back after.
    let r = browser().get(format!("{}/", d.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login?next=%2F");
    let r = browser()
        .post(format!("{}/login", d.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("name=ana&password=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Wrong name or password"));

    // The analyst's queue: the alerts, a CSRF token, the security headers.
    let ana = sign_in(&d, "ana", "a long enough password").await;
    let (s, h, page) = get(&d, "/", &ana).await;
    assert_eq!(s, 200);
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    for ip in ips {
        assert!(page.contains(ip), "the queue lists {ip}");
    }
    assert!(page.contains("Acknowledge selected"));
    let csrf = csrf_of(&page);

    // Bulk acknowledge three: each acknowledged by ana, each in the audit log under her name.
    let picked = &ids[..3];
    let form =
        format!("csrf={csrf}&action=ack&{}", picked.iter().map(|i| format!("id={i}")).collect::<Vec<_>>().join("&"));
    let r = post_form(&d, "/alerts/act", &ana, &form, Some(&d.base)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/?done=ack.3.0");
    for id in picked {
        let (_, a) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{id}"), None).await;
        assert_eq!((a["state"].as_str(), a["acked_by"].as_str()), (Some("acknowledged"), Some("ana")), "{a}");
    }
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?actor=ana&action=alert.acknowledge", None).await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 3, "one record per alert: {audit}");

    // Forged forms: no token, another session's token, another site's page.
    let untouched = ids[3];
    for (form, origin) in [
        (format!("action=ack&id={untouched}"), None),
        (format!("csrf={}&action=ack&id={untouched}", "0".repeat(32)), None),
        (format!("csrf={csrf}&action=ack&id={untouched}"), Some("https://evil.example")),
    ] {
        let r = post_form(&d, "/alerts/act", &ana, &form, origin).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form} from {origin:?}");
    }
    let (_, a) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{untouched}"), None).await;
    assert_eq!(a["state"], "open", "nothing forged got through");

    // A viewer reads the queue without action buttons; a POST from their session is 403.
    let vic = sign_in(&d, "vic", "a long enough password").await;
    let (s, _, page) = get(&d, "/", &vic).await;
    assert_eq!(s, 200);
    assert!(!page.contains("Acknowledge selected") && !page.contains("type=\"checkbox\""), "read-only for a viewer");
    let form = format!("csrf={}&action=ack&id={untouched}", csrf_of(&page));
    assert_eq!(post_form(&d, "/alerts/act", &vic, &form, None).await.status(), StatusCode::FORBIDDEN);
    let (_, a) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{untouched}"), None).await;
    assert_eq!(a["state"], "open");

    // Hostile text is shown as text: the inventory and the asset page.
    for path in ["/inventory", "/inventory/SRV-X"] {
        let (s, _, page) = get(&d, path, &ana).await;
        assert_eq!(s, 200, "{path}");
        assert!(!page.contains("<script>alert"), "{path} escapes the asset's name");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{path}");
    }
    let (s, _, _) = get(&d, "/inventory/NO-SUCH", &ana).await;
    assert_eq!(s, 404);

    // Admin pages refuse analysts and viewers.
    for who in [&ana, &vic] {
        for path in ["/audit", "/agents", "/import"] {
            let (s, _, _) = get(&d, path, who).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        }
    }
    let r = post_form(&d, "/agents", &ana, &format!("csrf={csrf}&name=x&segments=198.18.9.0/24"), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an analyst cannot add an agent");

    // The dashboard draws its charts on the server.
    let (s, _, page) = get(&d, "/dashboard", &vic).await;
    assert_eq!(s, 200);
    assert!(page.contains("<svg") && page.contains("live alerts") && page.contains("a1"), "charts and the agent");

    // Embedded assets; the API keeps its JSON errors.
    let (s, h, js) = get(&d, "/static/htmx.min.js", &ana).await;
    assert_eq!((s, h[CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert!(js.len() > 10_000);
    let r = d.req(Method::GET, "/api/v1/alerts/abc", Some(ADMIN), None).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));

    // Signing out ends the session in the database: the old cookie no longer signs anyone in.
    let (_, _, page) = get(&d, "/", &ana).await;
    let r = post_form(&d, "/logout", &ana, &format!("csrf={}", csrf_of(&page)), None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let (s, h, _) = get(&d, "/", &ana).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login?next=%2F"));
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?actor=ana&action=logout", None).await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 1, "{audit}");
    d.stop().await;
}

/// A batch as an agent sends it (JSON), hosts with an mDNS name each.
fn named_sweep(agent: &str, hosts: &[(&str, &str, &str)]) -> Vec<u8> {
    let t = |m: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::minutes(m))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let hosts: Vec<serde_json::Value> = hosts
        .iter()
        .map(|(ip, mac, name)| {
            json!({ "ip": ip, "mac": { "address": mac, "locally_administered": false },
            "seen_by": ["arp"], "ports": [], "names": [{ "name": name, "source": "mdns" }], "fingerprints": [],
            "first_seen": t(2), "last_seen": t(1) })
        })
        .collect();
    serde_json::to_vec(&json!({ "schema_version": "1.2", "batch_id": uuid::Uuid::new_v4(), "agent_id": agent,
        "segment": { "name": "lab", "targets": ["198.18.0.0/24"], "excluded": [] },
        "started_at": t(3), "finished_at": t(1),
        "completeness": { "addresses_in_scope": 254, "probes_sent": 254, "replies": hosts.len(), "estimated_loss": 0.0,
            "rate_limit_pps": 100, "rate_achieved_pps": 100.0, "complete": true, "techniques": [], "enriched": true },
        "hosts": hosts }))
    .unwrap()
}

/// Regressions from a break attempt on the console: names from evidence
/// (written `name (mdns)`) broke adopt and link; actions on a resolved
/// alert went through; a huge `days` filter panicked the page; any text in
/// `done` was shown as an official banner.
#[tokio::test]
async fn review_actions_take_bare_valid_names_and_refuse_resolved_alerts() {
    let d = Daemon::start().await;
    let body = json!({ "name": "ana", "role": "analyst", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    let srv =
        json!({ "tag": "SRV-1", "name": "build", "type": "server", "lifecycle": "deployed", "hostnames": ["srv1"] });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(srv)).await.0, 201);
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    let hosts = [
        ("198.18.0.11", "00:1b:21:00:00:11", "=cmd|' /c calc'!a0"),
        ("198.18.0.12", "00:1b:21:00:00:12", "printer-3.local"),
    ];
    for _ in 0..2 {
        let r = d.req(Method::POST, "/api/v1/batches", Some(&token), Some(named_sweep("a1", &hosts))).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    d.settle().await;
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts?kind=unknown-asset", None).await;
    let id_of = |ip: &str| alerts.as_array().unwrap().iter().find(|a| a["ip"] == ip).unwrap()["id"].as_i64().unwrap();
    let (hostile, printer) = (id_of("198.18.0.11"), id_of("198.18.0.12"));
    let ana = sign_in(&d, "ana", "a long enough password").await;

    // Adopt: the prefilled form names the device by its bare name, and submits as prefilled.
    let (s, _, form) = get(&d, &format!("/alerts/{printer}/adopt"), &ana).await;
    assert_eq!(s, 200);
    assert!(form.contains("name=\"hostnames\" value=\"printer-3.local\""), "bare name prefilled: {form}");
    let csrf = csrf_of(&form);
    let post = format!(
        "csrf={csrf}&tag=PRN-3&name=printer-3.local&type=iot&owner=facilities&lifecycle=deployed&macs=00%3A1b%3A21%3A00%3A00%3A12&ips=&hostnames=printer-3.local"
    );
    assert_eq!(
        post_form(&d, &format!("/alerts/{printer}/adopt"), &ana, &post, None).await.status(),
        StatusCode::SEE_OTHER
    );
    // Link: a name the register would refuse is not added; the asset stays editable.
    let r = post_form(&d, &format!("/alerts/{hostile}/link"), &ana, &format!("csrf={csrf}&tag=SRV-1"), None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, srv) = d.admin_json(Method::GET, "/api/v1/assets/SRV-1", None).await;
    assert_eq!(srv["hostnames"], json!(["srv1"]), "{srv}");
    assert_eq!(d.admin_json(Method::PUT, "/api/v1/assets/SRV-1", Some(srv.clone())).await.0, 200, "still editable");
    // Both alerts are resolved now: acting on them again is refused.
    for path in [format!("/alerts/{hostile}/link"), format!("/alerts/{printer}/retire")] {
        let r = post_form(&d, &path, &ana, &format!("csrf={csrf}&tag=SRV-1"), None).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{path}");
    }
    // A personal API token in the session cookie signs no one in.
    let (_, t) = d.admin_json(Method::POST, "/api/v1/tokens", Some(json!({ "user": "ana" }))).await;
    let cookie = format!("census_session={}", t["token"].as_str().unwrap());
    let (s, _, _) = get(&d, "/", &cookie).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "to the sign-in page");
    // A huge filter is no panic; a crafted banner is not shown.
    let (s, _, page) = get(&d, "/?days=9223372036854775807&done=Session+expired%2C+call+555", &ana).await;
    assert_eq!(s, 200);
    assert!(!page.contains("Session expired"), "only the page's own outcome texts are shown");
    let (_, _, page) = get(&d, "/?done=ack.3.1", &ana).await;
    assert!(page.contains("Acknowledged 3 alert(s). 1 could not be"), "the outcome of a real action");
    d.stop().await;
}

/// The queue pages 50 alerts at a time with an "older" link that keeps the
/// filters; filters run in the store over every live alert (free text
/// finds an alert however far down it is), and a bad filter is refused
/// naming its field.
#[tokio::test]
async fn the_queue_pages_by_fifty_and_filters_every_live_alert() {
    let d = Daemon::start().await;
    let body = json!({ "name": "ana", "role": "analyst", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    let ips: Vec<String> = (1..=70).map(|i| format!("198.18.0.{i}")).collect();
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    for _ in 0..2 {
        let body = census_proto::encode_batch(&batch("a1", &refs));
        assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await.status(), 200);
    }
    d.settle().await;
    let ana = sign_in(&d, "ana", "a long enough password").await;
    let (s, _, page) = get(&d, "/?kind=unknown-asset", &ana).await;
    assert_eq!(s, 200);
    assert!(page.contains("70 alert(s) match; 50 on this page"), "{}", &page[..page.len().min(4000)]);
    assert_eq!(page.matches("data-alert=").count(), 50);
    let at = page.find("rel=\"next\"").map(|i| page[..i].rfind("href=\"").unwrap() + 6).expect("a next-page link");
    let next = page[at..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(next.contains("kind=unknown-asset") && next.contains("before="), "{next}");
    let (_, _, older) = get(&d, &next, &ana).await;
    assert_eq!(older.matches("data-alert=").count(), 20, "the other 20");
    assert!(!older.contains("rel=\"next\""));
    // The oldest alert, found by its address from the first page.
    let oldest = older.split("data-alert=\"").last().unwrap().split('"').next().unwrap().to_string();
    let (_, alert) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{oldest}"), None).await;
    let ip = alert["ip"].as_str().unwrap().to_string();
    let (_, _, found) = get(&d, &format!("/?q={ip}"), &ana).await;
    assert!(found.contains(&format!("data-alert=\"{oldest}\"")), "{ip}");
    assert!(found.matches("data-alert=").count() <= 11, "only addresses holding {ip}");
    for (bad, field) in [
        ("kind=nope", "kind"),
        ("severity=urgent", "severity"),
        ("days=soon", "days"),
        ("before=x", "before"),
        ("state=resolved", "state"),
    ] {
        let (s, _, page) = get(&d, &format!("/?{bad}"), &ana).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.contains(&format!("Filter `{field}`")), "{bad} names {field}");
    }
    d.stop().await;
}

/// The inventory sorts by a column (a heading link, again for the other
/// way), pages by number when sorted, shows the columns chosen, exports
/// the current result in its order, and refuses a bad order or column by name.
#[tokio::test]
async fn the_inventory_sorts_pages_and_shows_the_columns_chosen() {
    let d = Daemon::start().await;
    let body = json!({ "name": "vic", "role": "viewer", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    for i in 0..60 {
        let a = json!({ "tag": format!("T-{i:03}"), "name": format!("host {:03}", 59 - i), "type": "server",
            "owner": if i % 2 == 0 { "ops" } else { "Finance" }, "department": format!("dept-{i}"), "lifecycle": "deployed" });
        assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    }
    let vic = sign_in(&d, "vic", "a long enough password").await;
    let rows = |page: &str| -> Vec<String> {
        let link_text = |r: &str| r.split("\">").nth(1).unwrap().split('<').next().unwrap().to_string();
        page.split("<a href=\"/inventory/").skip(1).map(link_text).collect()
    };
    // Default: by tag, 50 a page, the default columns (no department).
    let (s, _, page) = get(&d, "/inventory", &vic).await;
    assert_eq!(s, 200);
    assert_eq!(rows(&page).first().map(String::as_str), Some("T-000"));
    assert!(!page.contains("dept-0") && page.contains("Host names"));
    // By name: host 000 is T-059; a heading link sorts the other way.
    let (_, _, page) = get(&d, "/inventory?sort=name", &vic).await;
    assert_eq!(rows(&page)[..2], ["T-059".to_string(), "T-058".to_string()]);
    assert!(page.contains("60 asset(s) match") && page.contains("sort=name&amp;dir=desc"), "toggle link");
    let (_, _, page) = get(&d, "/inventory?sort=name&dir=desc&page=2", &vic).await;
    assert_eq!(rows(&page), (50..60).map(|i| format!("T-{i:03}")).collect::<Vec<_>>(), "page 2, descending");
    // Columns chosen: department shown, MACs not; kept by the sort links.
    let (_, _, page) = get(&d, "/inventory?col=department&col=owner&sort=owner", &vic).await;
    assert!(page.contains("dept-1") && !page.contains(">MACs<"), "chosen columns only");
    assert!(page.contains("col=owner&amp;col=department"), "links keep the columns");
    assert_eq!(rows(&page).first().map(String::as_str), Some("T-001"), "Finance before ops, any case");
    // The export follows the search and the order.
    let r = browser()
        .get(format!("{}/inventory.csv?q=owner:finance&sort=name", d.base))
        .header(COOKIE, &vic)
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    let tags: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(tags.len(), 30);
    assert_eq!(tags[0], "T-059", "host 000 first");
    for (bad, field) in [("sort=colour", "sort"), ("dir=up", "dir"), ("page=0", "page"), ("col=secret", "col")] {
        let (s, _, page) = get(&d, &format!("/inventory?{bad}"), &vic).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.contains(&format!("`{field}`")), "{bad} names {field}");
    }
    d.stop().await;
}

/// The devices page lists unregistered devices (suppressed ones too) and
/// adopts or links many at once: each device its own asset (its tag and
/// name as edited, one owner and type for all) or all into one asset; a
/// device that cannot be adopted (its tag taken) is named and the others
/// go ahead; every alert resolved and recorded under the person.
#[tokio::test]
async fn devices_are_adopted_and_linked_in_bulk() {
    let d = Daemon::start().await;
    let body = json!({ "name": "ana", "role": "analyst", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    let taken = json!({ "tag": "NEW-001B21000001", "name": "already here", "type": "server", "lifecycle": "deployed" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(taken)).await.0, 201);
    let hub = json!({ "tag": "SRV-HUB", "name": "hub", "type": "server", "lifecycle": "deployed" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(hub)).await.0, 201);
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    let ips = ["198.18.0.10", "198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14"];
    for _ in 0..2 {
        let body = census_proto::encode_batch(&batch("a1", &ips));
        assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await.status(), 200);
    }
    d.settle().await;
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts?kind=unknown-asset", None).await;
    let id_of = |ip: &str| alerts.as_array().unwrap().iter().find(|a| a["ip"] == ip).unwrap()["id"].as_i64().unwrap();
    let ana = sign_in(&d, "ana", "a long enough password").await;
    let (s, _, page) = get(&d, "/devices", &ana).await;
    assert_eq!(s, 200);
    assert!(page.contains("5 device(s)") && page.contains("00:1b:21:00:00:04"), "every unregistered device");
    let csrf = csrf_of(&page);

    // Adopt three: the first form prefills a tag per device from its MAC.
    let (a0, a1, a2) = (id_of("198.18.0.10"), id_of("198.18.0.11"), id_of("198.18.0.12"));
    let r = post_form(&d, "/devices/adopt", &ana, &format!("csrf={csrf}&id={a0}&id={a1}&id={a2}"), None).await;
    assert_eq!(r.status(), 200);
    let form = r.text().await.unwrap();
    assert!(form.contains(&format!("name=\"tag-{a1}\" value=\"NEW-001B21000001\"")), "tag from the MAC");
    let post = format!(
        "csrf={csrf}&confirm=1&type=iot&owner=facilities&lifecycle=deployed&id={a0}&id={a1}&id={a2}\
         &tag-{a0}=PRN-1&name-{a0}=Printer+one&tag-{a1}=NEW-001B21000001&tag-{a2}=PRN-3"
    );
    let r = post_form(&d, "/devices/adopt", &ana, &post, None).await;
    assert_eq!(r.status(), 200, "partly done: an outcome page");
    let outcome = r.text().await.unwrap();
    assert!(outcome.contains("2 done.") && outcome.contains(&format!("alert {a1}")), "the taken tag named");
    let (_, prn) = d.admin_json(Method::GET, "/api/v1/assets/PRN-1", None).await;
    assert_eq!(
        (prn["name"].as_str(), prn["owner"].as_str(), prn["type"].as_str()),
        (Some("Printer one"), Some("facilities"), Some("iot"))
    );
    assert_eq!(prn["macs"], json!(["00:1b:21:00:00:00"]));
    for (id, state) in [(a0, "resolved"), (a1, "open"), (a2, "resolved")] {
        let (_, a) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{id}"), None).await;
        assert_eq!(a["state"], state, "alert {id}");
    }
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?actor=ana&action=alert.resolve", None).await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 2, "one record per alert resolved");

    // Link two devices into one asset: both MACs added.
    let (b0, b1) = (id_of("198.18.0.13"), id_of("198.18.0.14"));
    let r = post_form(&d, "/devices/link", &ana, &format!("csrf={csrf}&id={b0}&id={b1}"), None).await;
    assert_eq!(r.status(), 200, "asks for the asset");
    let r =
        post_form(&d, "/devices/link", &ana, &format!("csrf={csrf}&confirm=1&tag=NOPE&id={b0}&id={b1}"), None).await;
    assert_eq!(r.status(), 404, "no such asset: nothing changed");
    let r =
        post_form(&d, "/devices/link", &ana, &format!("csrf={csrf}&confirm=1&tag=SRV-HUB&id={b0}&id={b1}"), None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, hub) = d.admin_json(Method::GET, "/api/v1/assets/SRV-HUB", None).await;
    assert_eq!(hub["macs"], json!(["00:1b:21:00:00:03", "00:1b:21:00:00:04"]));
    // Refused: no selection, a bad id, no CSRF token.
    assert_eq!(post_form(&d, "/devices/adopt", &ana, &format!("csrf={csrf}"), None).await.status(), 400);
    assert_eq!(post_form(&d, "/devices/adopt", &ana, &format!("csrf={csrf}&id=x"), None).await.status(), 400);
    assert_eq!(post_form(&d, "/devices/adopt", &ana, &format!("id={a1}"), None).await.status(), 403, "no CSRF token");
    let (_, _, page) = get(&d, "/devices", &ana).await;
    assert!(page.contains("1 device(s)"), "the one left to review");
    d.stop().await;
}

/// An analyst edits an asset from its page: the change is saved under her
/// name with the record before and after; a bad field is named and nothing
/// saved; a form opened before someone else's change is refused (409)
/// rather than undoing it; a viewer gets no form and a 403 on a post.
#[tokio::test]
async fn an_analyst_edits_an_asset_and_a_stale_form_is_refused() {
    let d = Daemon::start().await;
    for (name, role) in [("ana", "analyst"), ("vic", "viewer")] {
        let body = json!({ "name": name, "role": role, "password": "a long enough password" });
        assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    }
    let srv = json!({ "tag": "SRV-1", "name": "build", "type": "server", "lifecycle": "deployed",
        "licences": [{ "product": "OS", "vendor": "V", "expires": "2030-01-01" }] });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(srv)).await.0, 201);
    let (ana, vic) =
        (sign_in(&d, "ana", "a long enough password").await, sign_in(&d, "vic", "a long enough password").await);
    let (_, _, page) = get(&d, "/inventory/SRV-1", &vic).await;
    assert!(!page.contains("Edit this asset"), "a viewer has no edit link");
    let (s, _, _) = get(&d, "/inventory/SRV-1/edit", &vic).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, form) = get(&d, "/inventory/SRV-1/edit", &ana).await;
    assert_eq!(s, 200);
    let csrf = csrf_of(&form);
    let at = form.find("name=\"fingerprint\" value=\"").unwrap() + 26;
    let fp = form[at..at + 64].to_string();
    let base = format!(
        "csrf={csrf}&fingerprint={fp}&type=server&lifecycle=maintenance&criticality=high&name=build+box&owner=platform"
    );
    // A bad field is named, nothing saved.
    let r = post_form(&d, "/inventory/SRV-1/edit", &ana, &format!("{base}&macs=not-a-mac"), None).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("macs"), "the field named");
    // Every bad item is named, as the API lists them: a thousand, then a
    // count of the rest (review of 2026-12-08).
    let macs: Vec<String> = (0..1_200).map(|i| format!("bad{i}")).collect();
    let r = post_form(&d, "/inventory/SRV-1/edit", &ana, &format!("{base}&macs={}", macs.join("+")), None).await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("macs[1]: ") && page.contains("macs[999]: "), "each bad item by its position");
    assert!(!page.contains("macs[1000]: ") && page.contains("200 more problems, not listed"), "the rest counted");
    let edit = format!(
        "{base}&macs=00:1b:21:00:00:01&support_end=&serial=SN-77&location=DC1+rack+4&external_ids=netbox%3Adevice%2F56"
    );
    let r = post_form(&d, "/inventory/SRV-1/edit", &ana, &edit, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, a) = d.admin_json(Method::GET, "/api/v1/assets/SRV-1", None).await;
    assert_eq!((a["serial"].as_str(), a["location"].as_str()), (Some("SN-77"), Some("DC1 rack 4")), "{a}");
    assert_eq!(a["external_ids"], json!(["netbox:device/56"]));
    let (_, a) = d.admin_json(Method::GET, "/api/v1/assets/SRV-1", None).await;
    assert_eq!(
        (a["name"].as_str(), a["lifecycle"].as_str(), a["owner"].as_str()),
        (Some("build box"), Some("maintenance"), Some("platform"))
    );
    assert_eq!(a["licences"][0]["product"], "OS", "fields the form does not edit are kept");
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?actor=ana&action=asset.update", None).await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 1);
    // The same (now stale) form again: refused, nothing changed.
    let r = post_form(&d, "/inventory/SRV-1/edit", &ana, &format!("{base}&name=old+form"), None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (_, a) = d.admin_json(Method::GET, "/api/v1/assets/SRV-1", None).await;
    assert_eq!(a["name"], "build box");
    let r = post_form(
        &d,
        "/inventory/SRV-1/edit",
        &vic,
        &format!("csrf={}&name=x", csrf_of(&get(&d, "/", &vic).await.2)),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a viewer's post");
    d.stop().await;
}

/// Saved searches are per person: saved from the page's current view
/// (without its position), offered as links there, not to anyone else;
/// a query the page would refuse is not saved; deleting forgets it.
#[tokio::test]
async fn saved_searches_are_each_persons_own() {
    let d = Daemon::start().await;
    for (name, role) in [("ana", "analyst"), ("vic", "viewer")] {
        let body = json!({ "name": name, "role": role, "password": "a long enough password" });
        assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    }
    let (ana, vic) =
        (sign_in(&d, "ana", "a long enough password").await, sign_in(&d, "vic", "a long enough password").await);
    let (_, _, page) = get(&d, "/inventory?q=type%3Aserver&sort=name&page=2", &vic).await;
    let csrf = csrf_of(&page);
    assert!(page.contains("name=\"query\" value=\"q=type%3Aserver&amp;sort=name\""), "the view without its page");
    let form = format!("csrf={csrf}&page=inventory&name=My+servers&query=q%3Dtype%253Aserver%26sort%3Dname");
    let r = post_form(&d, "/saved", &vic, &form, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/inventory?q=type%3Aserver&sort=name");
    let (_, _, page) = get(&d, "/inventory", &vic).await;
    assert!(
        page.contains("href=\"/inventory?q=type%3Aserver&amp;sort=name\">My servers</a>"),
        "a viewer keeps her own"
    );
    let (_, _, other) = get(&d, "/inventory", &ana).await;
    assert!(!other.contains("My servers"), "not anyone else's");
    // Refused: a query the page refuses, an unknown page, an empty name.
    for bad in ["page=inventory&name=x&query=sort%3Dcolour", "page=audit&name=x&query=", "page=queue&name=+&query="] {
        let r = post_form(&d, "/saved", &vic, &format!("csrf={csrf}&{bad}"), None).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = post_form(&d, "/saved/delete", &vic, &format!("csrf={csrf}&page=inventory&name=My+servers"), None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, _, page) = get(&d, "/inventory", &vic).await;
    assert!(!page.contains("My servers"));
    d.stop().await;
}

/// Bulk actions from the queue's selection beyond acknowledge and resolve:
/// the assets of selected should-be-retired alerts set disposed (another
/// kind in the selection left out and counted); one suppression rule per
/// selected subject, previewed, refused without a reason, then saved.
#[tokio::test]
async fn selected_alerts_are_suppressed_or_their_assets_disposed_in_bulk() {
    let d = Daemon::start().await;
    let body = json!({ "name": "ana", "role": "analyst", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    for (tag, mac) in [("OLD-1", "00:1b:21:00:00:00"), ("OLD-2", "00:1b:21:00:00:01")] {
        let a = json!({ "tag": tag, "name": "old", "type": "server", "lifecycle": "decommissioned", "macs": [mac] });
        assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    }
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    let ips = ["198.18.0.10", "198.18.0.11", "198.18.0.12", "198.18.0.13"];
    for _ in 0..2 {
        let body = census_proto::encode_batch(&batch("a1", &ips));
        assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await.status(), 200);
    }
    d.settle().await;
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts", None).await;
    let id_of = |ip: &str, kind: &str| {
        alerts.as_array().unwrap().iter().find(|a| a["ip"] == ip && a["kind"] == kind).unwrap()["id"].as_i64().unwrap()
    };
    let (r0, r1) = (id_of("198.18.0.10", "should-be-retired"), id_of("198.18.0.11", "should-be-retired"));
    let (u2, u3) = (id_of("198.18.0.12", "unknown-asset"), id_of("198.18.0.13", "unknown-asset"));
    let ana = sign_in(&d, "ana", "a long enough password").await;
    let csrf = csrf_of(&get(&d, "/", &ana).await.2);

    // Still answering, no wipe attested: refused without a reason, nothing disposed.
    let r =
        post_form(&d, "/alerts/dispose-selected", &ana, &format!("csrf={csrf}&id={r0}&id={r1}&id={u2}"), None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.unwrap();
    assert!(page.contains("unmet steps") && page.contains("no-answer") && page.contains("wipe"), "{page}");
    for tag in ["OLD-1", "OLD-2"] {
        let lifecycle = &d.admin_json(Method::GET, &format!("/api/v1/assets/{tag}"), None).await.1["lifecycle"];
        assert_eq!(lifecycle, "decommissioned", "all or nothing");
    }
    // The note is the reason: disposed, the reason kept and audited.
    let form = format!("csrf={csrf}&id={r0}&id={r1}&id={u2}&note=sold+as+scrap%2C+wiped+by+vendor");
    let r = post_form(&d, "/alerts/dispose-selected", &ana, &form, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/?done=dispose.2.1", "two disposed, the unknown device left out");
    for tag in ["OLD-1", "OLD-2"] {
        assert_eq!(d.admin_json(Method::GET, &format!("/api/v1/assets/{tag}"), None).await.1["lifecycle"], "disposed");
        let (_, c) = d.admin_json(Method::GET, &format!("/api/v1/retirements/{tag}"), None).await;
        assert_eq!(c["forced"]["reason"], "sold as scrap, wiped by vendor", "{c}");
        assert_eq!(c["forced"]["by"], "ana");
    }
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?action=retirement.forced", None).await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 2, "{audit}");
    let (_, a) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{r0}"), None).await;
    assert_eq!(a["state"], "resolved");

    let r = post_form(&d, "/alerts/suppress-selected", &ana, &format!("csrf={csrf}&id={u2}&id={u3}"), None).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("These rules hold 2 live alert(s)") && page.contains("00:1b:21:00:00:02"),
        "previewed per MAC"
    );
    let r = post_form(
        &d,
        "/alerts/suppress-selected",
        &ana,
        &format!("csrf={csrf}&id={u2}&id={u3}&confirm=1&reason="),
        None,
    )
    .await;
    assert_eq!(r.status(), 400, "asks again for a reason");
    assert!(r.text().await.unwrap().contains("give a reason"));
    let r = post_form(
        &d,
        "/alerts/suppress-selected",
        &ana,
        &format!("csrf={csrf}&id={u2}&id={u3}&confirm=1&reason=lab+kit&expires_in=2d"),
        None,
    )
    .await;
    assert_eq!(r.headers()[LOCATION], "/?done=rules.2.2");
    let (_, rules) = d.admin_json(Method::GET, "/api/v1/suppressions", None).await;
    assert_eq!(rules.as_array().unwrap().len(), 2, "{rules}");
    // One record per alert the rules held, under the person (regression: only the rule was recorded).
    let (_, audit) = d.admin_json(Method::GET, "/api/v1/audit?actor=ana&action=alert.suppress", None).await;
    let mut subjects: Vec<&str> =
        audit["records"].as_array().unwrap().iter().map(|r| r["subject"].as_str().unwrap()).collect();
    subjects.sort_unstable();
    let mut want = [format!("alert:{u2}"), format!("alert:{u3}")];
    want.sort();
    assert_eq!(subjects, want);
    let r = post_form(
        &d,
        "/alerts/suppress-selected",
        &ana,
        &format!("csrf={csrf}&id={u2}&expires_in=999d&confirm=1&reason=x"),
        None,
    )
    .await;
    assert_eq!(r.status(), 400, "a bad expiry is named, nothing saved");
    // Regressions (second break attempt): an alert held already gets no second rule; an
    // emptied expiry is refused, not 30 days; the one-alert form previews without a reason.
    assert_eq!(d.admin_json(Method::POST, "/api/v1/reconcile", None).await.0, 200, "the rules take hold");
    let (_, held) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{u2}"), None).await;
    assert_eq!(held["state"], "suppressed");
    let again = format!("csrf={csrf}&id={u2}&confirm=1&reason=again&expires_in=2d");
    let r = post_form(&d, "/alerts/suppress-selected", &ana, &again, None).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("held by suppression rule"));
    let form = format!("csrf={csrf}&action=save&kind=unknown-asset&vendor=&reason=ok&expires_in=");
    let r = post_form(&d, &format!("/alerts/{u3}/suppress"), &ana, &form, None).await;
    assert_eq!(r.status(), 400, "no expiry given");
    let form = format!("csrf={csrf}&action=preview&kind=unknown-asset&vendor=&reason=&expires_in=30d");
    let r = post_form(&d, &format!("/alerts/{u3}/suppress"), &ana, &form, None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("This rule holds"), "previewed without a reason");
    let (_, rules) = d.admin_json(Method::GET, "/api/v1/suppressions", None).await;
    assert_eq!(rules.as_array().unwrap().len(), 2, "no rule added by the refused or previewed forms");
    d.stop().await;
}

/// Regressions from the second break attempt on the console: an emptied
/// field in the edit form did nothing (and said nothing); `days=0`/`-1`
/// and `before=0` were taken; `page=` was ignored in the default order;
/// two devices given one tag were half adopted; a sign-in from an opaque
/// origin (`Origin: null`, a sandboxed frame) made a session; a 20,000
/// character note was cut silently.
#[tokio::test]
async fn second_break_attempt_regressions() {
    let d = Daemon::start().await;
    let body = json!({ "name": "ana", "role": "analyst", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    for i in 0..55 {
        let a = json!({ "tag": format!("T-{i:03}"), "name": "n", "type": "server", "lifecycle": "deployed",
            "owner": "ops", "support_end": "2030-01-01", "macs": [format!("00:1b:21:00:10:{i:02x}")] });
        assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    }
    let ana = sign_in(&d, "ana", "a long enough password").await;
    // Clearing fields in the edit form clears them.
    let form = get(&d, "/inventory/T-000/edit", &ana).await.2;
    let (csrf, at) = (csrf_of(&form), form.find("name=\"fingerprint\" value=\"").unwrap() + 26);
    let post = format!(
        "csrf={csrf}&fingerprint={}&type=server&lifecycle=deployed&criticality=medium&name=n&owner=&macs=&support_end=",
        &form[at..at + 64]
    );
    assert_eq!(post_form(&d, "/inventory/T-000/edit", &ana, &post, None).await.status(), StatusCode::SEE_OTHER);
    let (_, a) = d.admin_json(Method::GET, "/api/v1/assets/T-000", None).await;
    assert_eq!((a["owner"].as_str(), a["macs"].as_array().map(Vec::len)), (Some(""), Some(0)), "{a}");
    assert!(a["support_end"].is_null(), "{a}");
    // Impossible filter values are refused.
    for bad in ["days=0", "days=-1", "before=0", "before=-5"] {
        assert_eq!(get(&d, &format!("/?{bad}"), &ana).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    // page= in the default order.
    let page2 = get(&d, "/inventory?page=2", &ana).await.2;
    assert!(page2.contains(">T-050<") && !page2.contains(">T-000<"), "the second page");
    // One tag for two devices: nothing stored.
    let token = d.add_agent("a1", &["198.18.0.0/24"]).await;
    for _ in 0..2 {
        let body = census_proto::encode_batch(&batch("a1", &["198.18.0.70", "198.18.0.71"]));
        assert_eq!(d.req(Method::POST, "/api/v1/batches", Some(&token), Some(body)).await.status(), 200);
    }
    d.settle().await;
    let (_, alerts) = d.admin_json(Method::GET, "/api/v1/alerts?kind=unknown-asset", None).await;
    let ids: Vec<i64> = alerts.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    let post = format!("csrf={csrf}&confirm=1&id={0}&id={1}&tag-{0}=DUP-1&tag-{1}=DUP-1", ids[0], ids[1]);
    let r = post_form(&d, "/devices/adopt", &ana, &post, None).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("more than one device"));
    assert_eq!(d.admin_json(Method::GET, "/api/v1/assets/DUP-1", None).await.0, 404, "nothing stored");
    // A note past 500 characters is refused, not cut.
    let long = "x".repeat(501);
    let r = post_form(&d, "/alerts/act", &ana, &format!("csrf={csrf}&action=resolve&id={}&note={long}", ids[0]), None)
        .await;
    assert_eq!(r.status(), 400);
    let (_, a) = d.admin_json(Method::GET, &format!("/api/v1/alerts/{}", ids[0]), None).await;
    assert_eq!(a["state"], "open");
    // Sign-in from an opaque origin.
    let r = browser()
        .post(format!("{}/login", d.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "null")
        .body("name=ana&password=a+long+enough+password")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
    d.stop().await;
}

/// The lifecycle page lists deployed assets with what they lack and every
/// retired asset's checklist; the asset page and whois show the checklist
/// with each step's state and evidence.
#[tokio::test]
async fn the_lifecycle_page_and_the_asset_page_show_deployments_and_retirements() {
    let d = Daemon::start().await;
    let body = json!({ "name": "vic", "role": "viewer", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    for a in [
        json!({ "tag": "DEP-1", "name": "unowned", "type": "endpoint", "lifecycle": "deployed" }),
        json!({ "tag": "OLD-9", "name": "old <b>filer</b>", "type": "server", "lifecycle": "decommissioned",
                "lifecycle_since": "2026-11-01" }),
    ] {
        assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    }
    let body = json!({ "reference": "WIPE-77", "note": "degaussed" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/retirements/OLD-9/wipe", Some(body)).await.0, 200);
    let vic = sign_in(&d, "vic", "a long enough password").await;
    let (status, _, page) = get(&d, "/lifecycle", &vic).await;
    assert_eq!(status, 200);
    let deployments = &page[page.find("id=\"deployments\"").unwrap()..page.find("id=\"retirements\"").unwrap()];
    assert!(deployments.contains("DEP-1") && deployments.contains("owner: none recorded"), "{deployments}");
    assert!(!deployments.contains("OLD-9"));
    let retirements = &page[page.find("id=\"retirements\"").unwrap()..];
    assert!(retirements.contains("OLD-9") && retirements.contains("old &lt;b&gt;filer&lt;/b&gt;"), "{retirements}");
    assert!(retirements.contains("WIPE-77") && retirements.contains("step-passed"), "the wipe step passed");
    assert!(retirements.contains("step-pending") && retirements.contains("not yet"), "{retirements}");

    let (status, _, page) = get(&d, "/inventory/OLD-9", &vic).await;
    assert_eq!(status, 200);
    let panel = &page[page.find("id=\"retirement\"").expect("a retirement panel")..];
    assert!(panel.contains("Retirement not verified yet") && panel.contains("WIPE-77"), "{panel}");
    let page = get(&d, "/inventory/DEP-1", &vic).await.2;
    assert!(!page.contains("id=\"retirement\""), "a deployed asset has no checklist");

    let (_, w) = d.admin_json(Method::GET, "/api/v1/whois?q=OLD-9", None).await;
    let steps: Vec<(&str, &str)> = w["retirement"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("no-answer", "not-checked"),
            ("credentials", "passed"),
            ("coverage-sources", "not-checked"),
            ("wipe", "passed"),
            ("disposal", "pending")
        ],
        "no address and no segment: Census cannot check it is off the network; {w}"
    );
    let (_, w) = d.admin_json(Method::GET, "/api/v1/whois?q=DEP-1", None).await;
    assert!(w.get("retirement").is_none(), "{w}");

    // Disposing past unmet steps needs force and a reason, both (the issue's `--force` and a reason).
    let a = json!({ "tag": "OLD-10", "name": "n", "type": "server", "lifecycle": "decommissioned" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/assets", Some(a)).await.0, 201);
    let dispose =
        |body: serde_json::Value| d.admin_json(Method::POST, "/api/v1/retirements/OLD-10/dispose", Some(body));
    let (status, e) = dispose(json!({})).await;
    assert_eq!(status, 409, "{e}");
    assert!(e["error"].as_str().unwrap().contains("--force --reason"), "{e}");
    assert_eq!(dispose(json!({ "reason": "sold" })).await.0, 400);
    assert_eq!(dispose(json!({ "force": true })).await.0, 400);
    let (status, c) = dispose(json!({ "force": true, "reason": "sold as scrap" })).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!((c["lifecycle"].as_str(), c["forced"]["reason"].as_str()), (Some("disposed"), Some("sold as scrap")));
}

/// Regression (review of 2026-12-08): the import page listed every problem
/// of a file, and each in full, where the API lists a thousand and cuts
/// what it echoes; the page shows the API's list, its last entry counting
/// the rest.
#[tokio::test]
async fn the_import_page_lists_a_thousand_problems_and_counts_the_rest() {
    let d = Daemon::start().await;
    let body = json!({ "name": "adm", "role": "admin", "password": "a long enough password" });
    assert_eq!(d.admin_json(Method::POST, "/api/v1/users", Some(body)).await.0, 201);
    let adm = sign_in(&d, "adm", "a long enough password").await;
    let (status, _, form) = get(&d, "/import", &adm).await;
    assert_eq!(status, StatusCode::OK);
    let mut csv = format!("tag,name,type,lifecycle,macs\nB-1,b,server,deployed,{}\n", "y".repeat(5_000));
    for i in 0..1_200 {
        csv.push_str(&format!("A-{i},a,server,deployed,zz\n"));
    }
    let boundary = "census-test-boundary";
    let part = |name: &str, value: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let mut multipart = part("csrf", &csrf_of(&form)) + &part("format", "csv");
    multipart.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ));
    let r = browser()
        .post(format!("{}/import", d.base))
        .header(COOKIE, &adm)
        .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    let problems = &page[page.find("id=\"problems\"").expect("the problems are listed")..];
    assert!(problems.contains("1201 problem(s) in the import; nothing was stored"), "{}", &problems[..300]);
    assert_eq!(problems.matches("<li>").count(), 1_001, "a thousand problems and one counting the rest");
    assert!(problems.contains("<li>201 more problems, not listed</li>"), "the rest are counted");
    assert!(problems.contains("<li>row 1, column macs: "), "{}", &problems[..600]);
    assert!(!page.contains(&"y".repeat(2_001)), "what was sent is echoed cut");
    d.stop().await;
}
