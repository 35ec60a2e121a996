//! `censusd check-config`: exit 0 on the shipped file, exit 2 naming the key otherwise.

use std::process::Command;

fn shipped() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/daemon.toml")).unwrap()
}

fn check(name: &str, text: &str) -> (i32, String) {
    let file = std::env::temp_dir().join(format!("censusd-cfg-{}-{name}.toml", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_censusd"))
        .arg("check-config")
        .arg(&file)
        .env_remove("CENSUSD_LISTEN")
        .env_remove("CENSUSD_DATABASE")
        .env_remove("CENSUSD_STORE_URL")
        .env_remove("CENSUSD_METRICS_LISTEN")
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn shipped_config_is_valid() {
    let (code, err) = check("shipped", &shipped());
    assert_eq!(code, 0, "{err}");
}

#[test]
fn mistakes_exit_2_naming_the_key() {
    let cases = [
        ("unknown", shipped().replace("[store]", "[store]\ndatabse = \"x\""), "store.databse"),
        ("listen", shipped().replace("127.0.0.1:8440", "localhost"), "server.listen"),
        ("body", shipped().replace("max_body_mb = 64", "max_body_mb = -1"), "server.max_body_mb"),
        ("retention", shipped().replace("retention = \"30d\"", "retention = \"2h\""), "store.retention"),
        ("retention-long", shipped().replace("retention = \"30d\"", "retention = \"4000d\""), "store.retention"),
        ("tls", shipped().replace("# tls_cert", "tls_cert"), "server.tls_key"),
        (
            "missing",
            shipped().replace("missing_after = \"7d\"", "missing_after = \"7 fortnights\""),
            "reconcile.missing_after",
        ),
        (
            "type",
            shipped().replace("unknown_after_sightings = 2", "unknown_after_sightings = \"two\""),
            "reconcile.unknown_after_sightings",
        ),
        (
            "by-type",
            shipped().replace("server = \"2d\"", "toaster = \"2d\""),
            "reconcile.missing_after_by_type.toaster",
        ),
        (
            "webhook-url",
            shipped().replace(
                "# [[notify.webhook]]\n# name = \"soc\"\n# url = \"https://soc.example.org/census\"",
                "[[notify.webhook]]\nname = \"soc\"\nurl = \"ftp://x\"",
            ),
            "notify.webhook[0].url",
        ),
        (
            "webhook-severity",
            shipped().replace(
                "# [[notify.webhook]]\n# name = \"soc\"\n# url = \"https://soc.example.org/census\"",
                "[[notify.webhook]]\nname = \"soc\"\nurl = \"https://soc.example.org/x\"\nmin_severity = \"meh\"",
            ),
            "notify.webhook[0].min_severity",
        ),
        (
            "metrics-listen",
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9464\"", "[metrics]\nlisten = \"localhost:9464\""),
            "metrics.listen",
        ),
        (
            "metrics-port-0",
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9464\"", "[metrics]\nlisten = \"0\""),
            "metrics.listen",
        ),
        (
            "metrics-same-as-api",
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9464\"", "[metrics]\nlisten = \"127.0.0.1:8440\""),
            "metrics.listen",
        ),
        (
            "metrics-overlaps-api",
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9464\"", "[metrics]\nlisten = \"0.0.0.0:8440\""),
            "metrics.listen",
        ),
        (
            "webhook-name-control",
            shipped().replace(
                "# [[notify.webhook]]\n# name = \"soc\"\n# url = \"https://soc.example.org/census\"",
                "[[notify.webhook]]\nname = \"a\\nb\"\nurl = \"https://soc.example.org/x\"",
            ),
            "notify.webhook[0].name",
        ),
        (
            "certificate-lead",
            shipped().replace("certificate_lead = \"30d\"", "certificate_lead = \"2y\""),
            "reconcile.certificate_lead",
        ),
        (
            "end-of-life-file-missing",
            shipped().replace("# end_of_life_file = ", "end_of_life_file = "),
            "reconcile.end_of_life_file",
        ),
        (
            // Found by a break attempt: TLS to PostgreSQL is refused by name, not at the handshake.
            "store-url-tls",
            shipped().replace(
                "database = \"/var/lib/census/census.db\"",
                "url = \"postgres://census@db.example/census?sslmode=require\"",
            ),
            "store.url",
        ),
        (
            "store-connections-on-sqlite",
            shipped().replace(
                "database = \"/var/lib/census/census.db\"",
                "database = \"/var/lib/census/census.db\"\nconnections = 16",
            ),
            "store.connections",
        ),
        (
            "store-connections-too-many",
            shipped().replace(
                "database = \"/var/lib/census/census.db\"",
                "url = \"postgres://census@/census?host=/run/postgresql\"\nconnections = 1000",
            ),
            "store.connections",
        ),
        (
            "metrics-unknown-key",
            shipped().replace("# [metrics]\n# listen = \"127.0.0.1:9464\"", "[metrics]\nport = 9464"),
            "metrics.port",
        ),
    ];
    for (name, text, key) in cases {
        assert_ne!(text, shipped(), "{name}: the replacement did not apply");
        let (code, err) = check(name, &text);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(&format!("key `{key}`")), "{name}: want key {key}: {err}");
    }
}

/// Found by a break attempt: a password given as a URL option never reaches
/// check-config's output (nor any other message: `store::pg::redacted`).
#[test]
fn a_store_password_is_never_printed() {
    let text = shipped().replace(
        "database = \"/var/lib/census/census.db\"",
        "url = \"postgres://census:Pw1Secret@/census?host=/run/postgresql&password=S3cretPW\"",
    );
    assert_ne!(text, shipped());
    let file = std::env::temp_dir().join(format!("censusd-cfg-{}-password.toml", std::process::id()));
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_censusd"))
        .arg("check-config")
        .arg(&file)
        .env_remove("CENSUSD_STORE_URL")
        .env_remove("CENSUSD_DATABASE")
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("S3cretPW") && !all.contains("Pw1Secret"), "{all}");
    assert!(all.contains("password=***"), "the URL is shown, redacted: {all}");
}
