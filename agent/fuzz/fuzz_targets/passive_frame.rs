#![no_main]
//! Fuzz target: `census_agent::fuzzing::passive_frame` must accept any bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| census_agent::fuzzing::passive_frame(data));
