//! `censusd serve` as a real process: the operator CLI drives it through
//! the API, it serves HTTPS when given a certificate, and SIGTERM stops it
//! cleanly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_censusd");

struct Serve {
    child: Child,
    cfg: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[path = "support/ports.rs"]
mod ports;

/// Write `dir/daemon.toml` for a daemon on a free port, its database and
/// admin token at `db` and `token` under `dir`; returns the file and the port.
fn config(dir: &Path, extra: &str, db: &str, token: &str) -> (PathBuf, u16) {
    let port = ports::unused_port();
    let cfg = dir.join("daemon.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n[store]\ndatabase = \"{}\"\n[auth]\nadmin_token_file = \"{}\"\n",
            dir.join(db).display(),
            dir.join(token).display()
        ),
    )
    .unwrap();
    (cfg, port)
}

fn start(dir: &Path, extra: &str) -> (Serve, u16) {
    let (cfg, port) = config(dir, extra, "db/census.db", "admin.token");
    let child = Command::new(BIN).args(["--config", cfg.to_str().unwrap(), "serve"]).spawn().unwrap();
    (Serve { child, cfg }, port)
}

/// Wait until `serve` listens on `port`; fails at once when it exited.
fn wait_until_listening(serve: &mut Serve, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = serve.child.try_wait() {
            panic!("censusd exited before listening on {port}: {status}");
        }
        assert!(Instant::now() < deadline, "censusd did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cli(s: &Serve, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(&s.cfg)
        .args(args)
        .env_remove("CENSUS_URL")
        .env_remove("CENSUS_ADMIN_TOKEN")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn operator_cli_drives_a_running_daemon_and_sigterm_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, port) = start(dir.path(), "");
    wait_until_listening(&mut serve, port);
    let token_meta = std::fs::metadata(dir.path().join("admin.token")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(token_meta.permissions().mode() & 0o777, 0o600, "the admin token is created private");

    let token = ok(&cli(&serve, &["agent", "add", "lab-1", "--segment", "198.18.0.0/24"]));
    assert!(token.trim().starts_with("census_"), "{token}");
    assert!(ok(&cli(&serve, &["agent", "list"])).contains("lab-1"));

    let csv = dir.path().join("register.csv");
    std::fs::write(
        &csv,
        "tag,name,type,lifecycle,macs\nS-1,One,server,deployed,00:1b:21:00:00:01\nS-2,Two,endpoint,procurement,\n",
    )
    .unwrap();
    let plan = ok(&cli(&serve, &["register", "import", csv.to_str().unwrap(), "--dry-run"]));
    assert!(plan.starts_with("would import: 2 added, 0 changed, 0 retired"), "{plan}");
    assert!(ok(&cli(&serve, &["register", "export", "--format", "json"])).trim() == "[]", "dry run stored nothing");
    ok(&cli(&serve, &["register", "import", csv.to_str().unwrap()]));
    let exported = ok(&cli(&serve, &["register", "export"]));
    assert!(exported.contains("S-1,One,server") && exported.contains("S-2,Two,endpoint"), "{exported}");

    // A file with some columns changes only those (the CLI's merge): an
    // empty cell is left as it is, and the dry run says how to clear it.
    std::fs::write(&csv, "tag,name,lifecycle\nS-1,,maintenance\n").unwrap();
    let plan = ok(&cli(&serve, &["register", "import", csv.to_str().unwrap(), "--dry-run"]));
    assert!(plan.starts_with("would import: 0 added, 1 changed, 0 retired"), "{plan}");
    assert!(plan.contains("lifecycle: deployed -> maintenance"), "{plan}");
    assert!(plan.contains("1 empty cell(s) left as they are; --clear-empty clears"), "{plan}");
    ok(&cli(&serve, &["register", "import", csv.to_str().unwrap()]));
    let exported = ok(&cli(&serve, &["register", "export"]));
    let s1 = exported.lines().find(|l| l.starts_with("S-1,")).unwrap();
    assert!(s1.contains("One") && s1.contains("maintenance") && s1.contains("00:1b:21:00:00:01"), "{s1}");
    // A European spreadsheet's `;`: refused naming the delimiter, then accepted with it.
    std::fs::write(&csv, "tag;name;type;lifecycle\nS-4;Four;server;deployed\n").unwrap();
    let out = cli(&serve, &["register", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--delimiter ';'"), "{err}");
    ok(&cli(&serve, &["register", "import", csv.to_str().unwrap(), "--delimiter", ";"]));
    assert!(ok(&cli(&serve, &["register", "export"])).contains("S-4,Four,server"));

    // A bad file: row and column named, exit 1, nothing stored.
    std::fs::write(&csv, "tag,name,type,lifecycle\nS-3,Three,toaster,deployed\n").unwrap();
    let out = cli(&serve, &["register", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 1 (line 2), column type: "), "{err}");

    assert!(ok(&cli(&serve, &["agent", "revoke", "lab-1"])).contains("revoked"));
    let out = cli(&serve, &["agent", "revoke", "lab-1"]);
    assert_eq!(out.status.code(), Some(1), "revoking twice says so");

    // SIGTERM: a clean, prompt exit.
    let t = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &serve.child.id().to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "censusd did not stop within 5 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
    let extra = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        dir.path().join("tls.crt").display(),
        dir.path().join("tls.key").display()
    );
    let (mut serve, port) = start(dir.path(), &extra);
    wait_until_listening(&mut serve, port);
    censusd::client::install_crypto();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let r = http.get(format!("https://localhost:{port}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("https://localhost:{port}/api/v1/assets")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Plain HTTP to the TLS port does not get an answer from the API.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[test]
fn cli_output_is_safe_for_terminals_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, port) = start(dir.path(), "");
    wait_until_listening(&mut serve, port);
    assert_eq!(
        ok(&cli(&serve, &["agent", "list"])).trim(),
        "no agents (add one: censusd agent add NAME --segment CIDR)"
    );
    assert_eq!(ok(&cli(&serve, &["alerts", "list"])).trim(), "no alerts");
    let csv = dir.path().join("register.csv");
    // An owner without a department.
    std::fs::write(&csv, "tag,name,type,owner,lifecycle,ips\nS-1,Web,server,platform-team,deployed,198.18.0.5\n")
        .unwrap();
    ok(&cli(&serve, &["register", "import", csv.to_str().unwrap()]));
    let r = Command::new(BIN).args(["--config", serve.cfg.to_str().unwrap(), "whois", "S-1"]).output().unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.contains("owner      platform-team\n"), "no dangling ` / ` for the empty department: {out}");
    assert!(out.contains("[not-seen]"), "{out}");
    assert!(!out.bytes().any(|c| c < 0x20 && c != b'\n'), "no control byte: {out:?}");
    // A closed pipe ends quietly.
    let mut child = Command::new(BIN)
        .args(["--config", serve.cfg.to_str().unwrap(), "whois", "S-1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
    // A name is one path segment, however it is written.
    let out = cli(&serve, &["agent", "revoke", "../assets/S-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(ok(&cli(&serve, &["whois", "S-1"])).contains("S-1"), "the asset is still there");
    let out = cli(&serve, &["whois", "no-such-thing"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.to_lowercase().matches("not found").count(), 0, "{err}");
    assert!(err.contains("404") && err.contains("nothing is known about `no-such-thing`"), "{err}");
}

/// Regression (hardening #17): run by hand under a permissive umask, the
/// database and its WAL/SHM were 0644. Whatever the umask, censusd creates
/// its directory 0700 and its database, WAL, SHM and admin token 0600.
#[test]
fn the_database_its_journal_and_the_token_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, port) = config(dir.path(), "", "state/census.db", "secrets/admin.token");
    let child = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" --config \"$1\" serve", BIN, cfg.to_str().unwrap()])
        .spawn()
        .unwrap();
    let mut serve = Serve { child, cfg };
    wait_until_listening(&mut serve, port);
    ok(&cli(&serve, &["agent", "add", "modes", "--segment", "198.18.0.0/24"]));
    let mode = |p: &str| std::fs::metadata(dir.path().join(p)).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode("state").unwrap(), 0o700, "database directory");
    for f in ["state/census.db", "state/census.db-wal", "state/census.db-shm", "secrets/admin.token"] {
        assert_eq!(mode(f).unwrap_or_else(|e| panic!("{f}: {e}")), 0o600, "{f}");
    }
    assert_eq!(mode("secrets").unwrap(), 0o700, "token directory");
}

/// Regression: `RUST_LOG=censusd=debug` showed nothing below INFO (the log
/// builder kept its own INFO ceiling under the per-target filter), so the
/// store's timings could not be seen. Without RUST_LOG nothing below INFO shows.
#[test]
fn rust_log_reaches_below_info_and_only_when_asked() {
    for (filter, want) in [(Some("censusd::store=trace"), true), (None, false)] {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, port) = config(dir.path(), "", "db/census.db", "admin.token");
        let log = dir.path().join("stderr.log");
        let mut cmd = Command::new(BIN);
        cmd.args(["--config", cfg.to_str().unwrap(), "serve"])
            .env_remove("RUST_LOG")
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(f) = filter {
            cmd.env("RUST_LOG", f);
        }
        let mut serve = Serve { child: cmd.spawn().unwrap(), cfg };
        wait_until_listening(&mut serve, port);
        // The checkpointer traces each checkpoint of a non-empty log (the
        // schema's creation filled it) within INTERVAL of starting.
        let deadline = Instant::now() + Duration::from_secs(10);
        let traced = || std::fs::read_to_string(&log).unwrap_or_default().contains("TRACE");
        while want && !traced() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !want {
            std::thread::sleep(Duration::from_secs(1));
        }
        drop(serve);
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(traced(), want, "RUST_LOG={filter:?}: {text}");
        if filter.is_none() {
            assert!(text.contains("censusd serving"), "INFO by default: {text}");
        }
    }
}
