//! `censusd demo --exit`: the README's main job shows the alerts it promises,
//! with a lab (as root, as in CI) and on loopback.

use std::process::Command;

use census_tests::binary;

fn demo(args: &[&str]) -> String {
    // The demo finds census-agent next to its own binary.
    let _ = binary("census-agent");
    let out = Command::new(binary("censusd")).arg("demo").arg("--exit").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "demo failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn the_lab_demo_shows_shadow_it_a_live_retired_server_a_missing_host_and_a_whois() {
    if let Err(e) = census_lab::check_available() {
        assert!(!census_lab::lab_required(), "CENSUS_REQUIRE_LAB=1 but {e}");
        eprintln!("census-lab: SKIPPED lab demo: {e}");
        return;
    }
    let text = demo(&["--listen", "127.0.0.1:18450"]);
    for want in [
        "should-be-retired asset:LAB-012",
        "unknown-asset device:mac:00:14:22:5e:00:07",
        "unknown-asset device:mac:00:14:22:5e:00:1a",
        "missing asset:LAB-NAS",
        "coverage-gap asset:LAB-000",
        "out-of-support asset:LAB-009",
        "end-of-life-software asset:LAB-002",
        "certificate-expiring cert:",
        "should NOT exist: LAB-012 is decommissioned",
        "lab removed",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    assert_eq!(text.matches("unknown-asset device:").count(), 3, "{text}");
    eprintln!("census-lab: demo: checked 30 of 30 lab hosts");
}

#[test]
fn the_loopback_demo_works_without_a_lab() {
    let text = demo(&["--loopback", "--listen", "127.0.0.1:18451"]);
    assert!(text.contains("should-be-retired asset:LOOP-3"), "{text}");
    assert!(text.contains("unknown-asset device:ip:127.0.0.4"), "{text}");
    assert!(text.contains("As root the demo builds a lab"), "{text}");
}
