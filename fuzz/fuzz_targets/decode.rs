//! Fuzz target `decode`: see `leakgate_fuzz::check_decode` for the entry point and its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| leakgate_fuzz::check_decode(data));
