//! The agent's delivery over HTTPS to a self-hosted daemon: trusted through
//! a CA file or a pinned certificate, refused (and kept for retry) when the
//! certificate is neither.

use std::sync::Arc;
use std::time::Duration;

use census_agent::service::deliver::{Deliverer, Outcome};
use censusd::config::{NotifyConfig, ReconcileConfig};
use censusd::store::{SqliteStore, Store};

fn batch() -> (String, Vec<u8>) {
    census_tests::empty_batch("tls-agent")
}

async fn send(d: &Deliverer, (id, body): (String, Vec<u8>)) -> Outcome {
    d.send(&id, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_trusts_a_ca_file_or_a_pin_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_pem, key_pem) = (dir.path().join("daemon.crt"), dir.path().join("daemon.key"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let pin: String =
        ring::digest::digest(&ring::digest::SHA256, cert.der()).as_ref().iter().map(|b| format!("{b:02x}")).collect();

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap());
    let (token, hash) = censusd::auth::new_token().unwrap();
    store.add_agent("tls-agent", &["198.18.0.0/24".parse().unwrap()], &hash, &mut censusd::store::unaudited()).unwrap();
    let daemon = censusd::service::Daemon::new(
        store.clone(),
        censusd::auth::hash_token("admin"),
        1 << 20,
        &ReconcileConfig::default(),
        &NotifyConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://localhost:{}", listener.local_addr().unwrap().port());
    let tls = censusd::api::load_tls(&cert_pem, &key_pem).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(daemon.run(listener, Some(tls), async {
        let _ = stopped.await;
    }));
    let t = Duration::from_secs(5);

    let by_ca = Deliverer::new(&url, &token, Some(&cert_pem), None, t).unwrap();
    assert_eq!(send(&by_ca, batch()).await, Outcome::Delivered { duplicate: false });
    let by_pin = Deliverer::new(&url, &token, None, Some(&pin), t).unwrap();
    assert_eq!(send(&by_pin, batch()).await, Outcome::Delivered { duplicate: false });
    let again = batch();
    assert_eq!(send(&by_pin, again.clone()).await, Outcome::Delivered { duplicate: false });
    assert_eq!(
        send(&by_pin, again).await,
        Outcome::Delivered { duplicate: true },
        "a resend is acknowledged, not stored twice"
    );

    let wrong_pin = Deliverer::new(&url, &token, None, Some(&"ab".repeat(32)), t).unwrap();
    assert!(
        matches!(send(&wrong_pin, batch()).await, Outcome::Retry(e) if e.contains("reach") && e.contains("pinned SHA-256")),
        "a wrong pin must not deliver, and the log says why"
    );
    let system_roots = Deliverer::new(&url, &token, None, None, t).unwrap();
    assert!(
        matches!(send(&system_roots, batch()).await, Outcome::Retry(e) if e.contains("UnknownIssuer")),
        "a self-signed daemon is not trusted by default, and the log names the unknown issuer"
    );
    let bad_token = Deliverer::new(&url, "census_0000", Some(&cert_pem), None, t).unwrap();
    assert!(matches!(send(&bad_token, batch()).await, Outcome::Unauthorized(_)));
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}
