//! Fuzz target `outcomes_reader` (see `winback_fuzz::outcomes_reader`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| winback_fuzz::outcomes_reader(data));
