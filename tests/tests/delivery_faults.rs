//! The real agent in service mode against things that are not the daemon's
//! batch endpoint: a captive portal answering `200 text/html`, a redirect, a
//! 404, and a daemon whose certificate names another host. Each keeps every
//! spooled batch (none deleted, none set aside as rejected) and logs a line
//! naming the cause. Loopback only: the agent's one segment is 127.0.0.1/32
//! (one TCP probe to a closed port each hour), so all it does is drain its spool.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use census_agent::service::spool::Spool;
use census_tests::{binary, spooled, wait_until};

const BATCHES: usize = 3;

fn batch() -> (String, Vec<u8>) {
    census_tests::empty_batch("faults")
}

/// A one-answer HTTP server on loopback: every request gets `response`; counts requests.
/// Stops accepting after 60 s whatever happens.
fn answering(response: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            // Headers, then as much of the body as Content-Length says (bounded).
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(h) = text.find("\r\n\r\n") {
                    let len = text[..h]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= h + 4 + len.min(1 << 20) {
                        break;
                    }
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(response.as_bytes());
        }
    });
    (port, seen)
}

/// Spool `BATCHES` batches under `dir`, run the agent against `url` until its log holds
/// `cause`, stop it, and check that every batch is still spooled and none was rejected.
fn keeps_every_batch(dir: &Path, url: &str, ca_file: Option<&Path>, cause: &str) -> String {
    let state = dir.join("state");
    let spool = Spool::open(&state, 16 << 20).unwrap();
    let kept: Vec<std::path::PathBuf> = (0..BATCHES)
        .map(|i| {
            let (id, body) = batch();
            spool.put(&id, 1_000 + i as i64, &body).unwrap()
        })
        .collect();
    std::fs::write(dir.join("agent.token"), "census_faults_token").unwrap();
    let ca = ca_file.map(|p| format!("ca_file = \"{}\"\n", p.display())).unwrap_or_default();
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nid = \"faults\"\nstate_dir = \"{}\"\n[daemon]\nurl = \"{url}\"\ntoken_file = \"{}\"\n{ca}\
             timeout = \"3s\"\nretry_max = \"1s\"\n\
             [[segment]]\nname = \"loopback\"\ntargets = [\"127.0.0.1/32\"]\ntechniques = [\"tcp\"]\nports = \"9\"\n\
             interval = \"1h\"\nnames = false\nservices = false\n",
            state.display(),
            dir.join("agent.token").display()
        ),
    )
    .unwrap();
    let log_path = dir.join("agent.log");
    let out = std::fs::File::create(&log_path).unwrap();
    let mut agent = Command::new(binary("census-agent"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let tried = |l: &str| l.matches("delivery failed; the batch stays in the spool").count();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            &format!("two failed deliveries naming `{cause}`"),
            Duration::from_secs(30),
            || {
                let l = log();
                tried(&l) >= 2 && l.contains(cause)
            },
            log,
        );
    }));
    let _ = Command::new("kill").args(["-TERM", &agent.id().to_string()]).status();
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && agent.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = agent.kill();
    let _ = agent.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let text = log();
    // The loopback sweep may have spooled one more; the first ones are all still there.
    assert!(kept.iter().all(|p| p.exists()), "every batch stays spooled:\n{text}");
    assert!(spooled(&state.join("spool")) >= BATCHES, "{text}");
    assert_eq!(spooled(&state.join("spool/rejected")), 0, "nothing is set aside as rejected:\n{text}");
    assert!(!text.contains("batch delivered"), "{text}");
    text
}

#[test]
fn a_captive_portal_a_redirect_and_a_404_keep_every_batch_and_say_why() {
    for (response, cause) in [
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 38\r\nConnection: close\r\n\r\n\
             <html>Welcome to the guest wifi</html>",
            "not the daemon's receipt",
        ),
        (
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "redirects (302 to http://127.0.0.1:9/login)",
        ),
        (
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            "404: not a Census daemon's batch endpoint",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (port, seen) = answering(response);
        let text = keeps_every_batch(dir.path(), &format!("http://127.0.0.1:{port}"), None, cause);
        assert!(seen.load(Ordering::SeqCst) >= 2, "the agent really asked ({cause}):\n{text}");
        eprintln!("delivery_faults: `{cause}`: {} attempts, {BATCHES} batches kept", seen.load(Ordering::SeqCst));
    }
}

#[test]
fn a_daemon_whose_certificate_names_another_host_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["census.example".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_pem, key_pem) = (dir.path().join("daemon.crt"), dir.path().join("daemon.key"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store: Arc<dyn censusd::store::Store> =
        Arc::new(censusd::store::SqliteStore::open(&dir.path().join("census.db")).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (port, served) = runtime.block_on(async {
        let daemon = censusd::service::Daemon::new(
            store,
            censusd::auth::hash_token("admin"),
            1 << 20,
            &censusd::config::ReconcileConfig::default(),
            &censusd::config::NotifyConfig::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = censusd::api::load_tls(&cert_pem, &key_pem).unwrap();
        let served = tokio::spawn(daemon.run(listener, Some(tls), async {
            let _ = stopped.await;
        }));
        (port, served)
    });
    // Trusts the daemon's own certificate as its CA, but dials a name the certificate does not hold.
    let text = keeps_every_batch(
        dir.path(),
        &format!("https://localhost:{port}"),
        Some(&cert_pem),
        "certificate not valid for name \"localhost\"",
    );
    assert!(text.contains("cannot reach the daemon"), "{text}");
    let _ = stop.send(());
    runtime.block_on(served).unwrap().unwrap();
}
