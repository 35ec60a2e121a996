//! Replays every fuzz target's corpus (seeds and anything the fuzzers saved)
//! through the same entry points on stable, so CI covers them.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            f(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 3, "{target}: only {n} corpus files");
}

#[test]
fn arp_frame_corpus() {
    replay("arp_frame", census_agent::fuzzing::arp_frame);
}

#[test]
fn ip_tcp_corpus() {
    replay("ip_tcp", census_agent::fuzzing::ip_tcp);
}

#[test]
fn banner_corpus() {
    replay("banner", census_agent::fuzzing::banner);
}

#[test]
fn mdns_reply_corpus() {
    replay("mdns_reply", census_agent::fuzzing::mdns_reply);
}

#[test]
fn netbios_reply_corpus() {
    replay("netbios_reply", census_agent::fuzzing::netbios_reply);
}

#[test]
fn passive_frame_corpus() {
    replay("passive_frame", census_agent::fuzzing::passive_frame);
}
