#![no_main]
//! See `eventhub_emulator::fuzzing::frames`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventhub_emulator::fuzzing::frames(data));
