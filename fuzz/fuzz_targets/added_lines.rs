//! Fuzz target `added_lines`: see `leakgate_fuzz::check_added_lines` for the entry point and its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| leakgate_fuzz::check_added_lines(data));
