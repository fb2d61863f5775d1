//! Fuzz target `config_toml` (see `winback_fuzz::config_toml`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| winback_fuzz::config_toml(data));
