#![no_main]
//! See `medallion::fuzzing::check_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| medallion::fuzzing::check_file(data));
