//! Fuzz target `model_loader` (see `winback_fuzz::model_loader`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| winback_fuzz::model_loader(data));
