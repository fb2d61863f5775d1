//! Fuzz target `csv_reader` (see `winback_fuzz::csv_reader`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| winback_fuzz::csv_reader(data));
