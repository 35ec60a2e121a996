//! `census-agent check-config`: exit 0 on the shipped file, exit 2 with the
//! file, the key and what was expected for each kind of mistake.

use std::path::PathBuf;
use std::process::Command;

fn shipped() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.toml")).unwrap()
}

fn check(text: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("census-agent-cfg-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join("agent.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_census-agent"))
        .arg("check-config")
        .arg(&file)
        .env_remove("CENSUS_DAEMON_URL")
        .env_remove("CENSUS_AGENT_ID")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn shipped_config_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_census-agent"))
        .args(["check-config", concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.toml")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("segment `lab`: 255 addresses"));
}

#[test]
fn bad_cidr_names_the_key() {
    let (code, err) = check(&shipped().replace("\"198.18.0.0/24\"", "\"198.18.0.0/33\""));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `segment[0].targets[0]`") && err.contains("`198.18.0.0/33` is not a CIDR"), "{err}");
}

#[test]
fn unknown_key_names_the_key() {
    let (code, err) = check(&shipped().replace("rate = 5000", "rate = 5000\nrat = 5"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `limits.rat`") && err.contains("unknown field `rat`"), "{err}");
}

#[test]
fn negative_rate_names_the_key() {
    let (code, err) = check(&shipped().replace("rate = 5000", "rate = -5"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `limits.rate`") && err.contains("expected a whole number from 1"), "{err}");
}

#[test]
fn other_mistakes_are_named_too() {
    let cases = [
        (shipped().replace("interval = \"1h\"", "interval = \"soon\""), "segment[0].interval"),
        (shipped().replace("interval = \"1h\"", "interval = \"500ms\""), "segment[0].interval"),
        (shipped().replace("\"arp\", \"icmp\"", "\"arp\", \"smoke-signals\""), "segment[0].techniques[1]"),
        (shipped().replace("ports = \"top100\"", "ports = \"top100,99999\""), "segment[0].ports"),
        (shipped().replace("https://censusd.example:8443", "censusd:8443"), "daemon.url"),
        (shipped().replace("\"198.18.0.0/24\"", "\"198.16.0.0/12\""), "segment[0].targets"),
        (shipped().replace("[limits]", "[limits\n"), ""),
        (shipped().replace("retries = 2", "retries = 200"), "segment[0].retries"),
        (
            shipped().replace("spool_max_mb = 256", "spool_max_mb = 256\noui_file = \"/nonexistent/oui.csv\""),
            "agent.oui_file",
        ),
        // Regression: a device as the override file grew without bound (2.9 GB in 4 s).
        (shipped().replace("spool_max_mb = 256", "spool_max_mb = 256\noui_file = \"/dev/zero\""), "agent.oui_file"),
        (shipped().replace("# probe_timeout = \"2s\"", "probe_timeout = \"5ms\""), "segment[0].probe_timeout"),
        // Regression: check-config said ok where `run` refused the file.
        (shipped().replace("\"/etc/census/agent.token\"", "\"/dev/zero\""), "daemon.token_file"),
        (shipped().replace("# ca_file = \"/etc/census/daemon-ca.pem\"", "ca_file = \"/dev/zero\""), "daemon.ca_file"),
        (
            shipped().replace("# ca_file = \"/etc/census/daemon-ca.pem\"", "ca_file = \"/etc/hostname\""),
            "daemon.ca_file",
        ),
        (shipped().replace("# quiet_hours = \"22:00-06:00\"", "quiet_hours = \"22:00\""), "segment[0].quiet_hours"),
        (shipped().replace("# pin_sha256 = \"3f1c", "pin_sha256 = \"zz3f1c"), "daemon.pin_sha256"),
        (shipped().replace("\"mdns\", \"netbios\"", "\"mdns\", \"llmnr\""), "segment[0].name_sources"),
        (
            shipped().replace("dns_servers = []", "dns_servers = [\"198.18.0.53\", \"dns.example\"]"),
            "segment[0].dns_servers[1]",
        ),
        (
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9465\"", "[metrics]\nlisten = \"any:9465\""),
            "metrics.listen",
        ),
        (
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9465\"", "[metrics]\nlisten = \"0\""),
            "metrics.listen",
        ),
    ];
    for (text, key) in cases {
        assert_ne!(text, shipped(), "the replacement for {key} did not apply");
        let (code, err) = check(&text);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("key `{key}`")) || key.is_empty(), "want key {key}: {err}");
        assert!(err.starts_with("census-agent: configuration error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn very_large_targets_are_refused_unless_allowed() {
    let big = shipped().replace("\"198.18.0.0/24\"", "\"198.16.0.0/12\"");
    let (code, err) = check(&big);
    assert_eq!(code, 2);
    assert!(err.contains("allow_large_targets"), "{err}");
    let (code, err) = check(&big.replace("allow_large_targets = false", "allow_large_targets = true"));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn environment_overrides_the_daemon_url_and_is_validated() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.toml");
    let cfg = Command::new(env!("CARGO_BIN_EXE_census-agent"))
        .args(["check-config", file])
        .env("CENSUS_DAEMON_URL", "not a url")
        .output()
        .unwrap();
    assert_eq!(cfg.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cfg.stderr).contains("key `daemon.url`"));
}

#[test]
fn name_settings_reach_the_sweep_request() {
    use census_agent::names::{NameLookup, NameSources};
    let load = |text: &str| {
        let dir = std::env::temp_dir().join(format!("census-agent-names-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("agent.toml"), text).unwrap();
        let cfg = census_agent::config::load(&dir.join("agent.toml")).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let seg = &cfg.segments[0];
        seg.request(&cfg.limits, &Default::default()).names
    };
    assert_eq!(load(&shipped()), Some(NameLookup { sources: NameSources::ALL, dns_servers: vec![] }));
    let custom = shipped()
        .replace("name_sources = [\"ptr\", \"mdns\", \"netbios\"]", "name_sources = [\"netbios\"]")
        .replace("dns_servers = []", "dns_servers = [\"198.18.0.53\"]");
    assert_eq!(
        load(&custom),
        Some(NameLookup {
            sources: NameSources { ptr: false, mdns: false, netbios: true },
            dns_servers: vec!["198.18.0.53".parse().unwrap()],
        })
    );
    assert_eq!(load(&shipped().replace("names = true", "names = false")), None);
}

/// Regression: `scan --oui-file /dev/zero` and `listen --dhcp-signatures
/// /dev/zero` read for ever; every file an operator names must be a
/// regular file of bounded size.
#[test]
fn a_device_or_pipe_as_an_operator_file_is_refused_at_once() {
    for args in [
        &["scan", "198.18.0.10", "--arp", "--oui-file", "/dev/zero"][..],
        &["listen", "lo", "--seconds", "1", "--targets", "198.18.0.0/24", "--dhcp-signatures", "/dev/zero"][..],
        &["check-config", "/dev/zero"][..],
    ] {
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_census-agent")).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{args:?}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{args:?} took {:?}", started.elapsed());
    }
}
