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
