#![no_main]
//! See `medallion::fuzzing::sql_expression`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| medallion::fuzzing::sql_expression(data));
