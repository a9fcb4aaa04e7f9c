//! Fuzz target `index`: see `leakgate_fuzz::check_index` for the entry point and its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| leakgate_fuzz::check_index(data));
