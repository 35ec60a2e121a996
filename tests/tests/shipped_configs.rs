//! Every configuration file shipped in `config/` loads and validates.

use std::path::Path;

#[test]
fn every_shipped_config_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("agent") {
            census_agent::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        } else if name.starts_with("daemon") {
            censusd::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        } else {
            panic!("{name}: shipped config files are named agent*.toml or daemon*.toml");
        }
        checked += 1;
    }
    assert!(checked >= 2, "found only {checked} config files");
}

/// `config example` prints a starter configuration that `check-config` accepts, for both binaries.
#[test]
fn config_example_prints_what_check_config_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for bin in ["censusd", "census-agent"] {
        let out = std::process::Command::new(census_tests::binary(bin)).args(["config", "example"]).output().unwrap();
        assert!(out.status.success(), "{bin} config example: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().filter(|l| l.trim_start().starts_with('#')).count() >= 10, "commented: {text}");
        let file = dir.path().join(format!("{bin}.toml"));
        std::fs::write(&file, &text).unwrap();
        let check = std::process::Command::new(census_tests::binary(bin))
            .arg("check-config")
            .arg(&file)
            .env("CENSUS_ADMIN_TOKEN", "unused")
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{bin} check-config rejects its own example: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
