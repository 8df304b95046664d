#![no_main]
//! See `medallion::fuzzing::json_body`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| medallion::fuzzing::json_body(data));
