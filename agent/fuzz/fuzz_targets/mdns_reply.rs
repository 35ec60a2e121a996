#![no_main]
//! Fuzz target: `census_agent::fuzzing::mdns_reply` must accept any bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| census_agent::fuzzing::mdns_reply(data));
