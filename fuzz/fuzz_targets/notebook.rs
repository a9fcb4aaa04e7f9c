//! Fuzz target `notebook`: see `leakgate_fuzz::check_notebook` for the entry point and its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| leakgate_fuzz::check_notebook(data));
