//! Fuzz target `parquet_reader` (see `winback_fuzz::parquet_reader`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| winback_fuzz::parquet_reader(data));
