//! `census-agent --version` names the date of the compiled-in MAC vendor registry.

use census_agent::fingerprint::vendor::{REGISTRY_DATE, REGISTRY_RELEASE};

#[test]
fn version_names_the_registry_and_its_date() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_census-agent")).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("census-agent {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains(&format!("published {REGISTRY_DATE} (oui-data {REGISTRY_RELEASE})")), "{text}");
}
