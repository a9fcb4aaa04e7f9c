//! Scanning guarantees of `src/source.rs` that cargo-mutants showed no test pinned (issue 18),
//! each driven through the built binary on a real repository.
//!
//! Invariant: each test shows both sides of the boundary it pins, so moving the boundary by one
//! in either direction fails it.

use crate::harness::*;

/// `--max-blob-size N` scans a blob of exactly N bytes; only a larger one is skipped.
#[test]
fn a_blob_of_exactly_max_blob_size_is_scanned_one_byte_more_is_not() {
    let r = TestRepo::new();
    let line = format!("t = '{HF_A}'\n");
    let body = format!("{}{line}", "#".repeat(100 - line.len() - 1) + "\n");
    assert_eq!(body.len(), 100);
    r.stage("edge.py", &body);
    let v = r.leakgate(&["check-staged", "--format", "json", "--max-blob-size", "100"]);
    v.code(1);
    assert_eq!(v.json()["findings"][0]["rule"], "huggingface-token");
    r.stage("edge.py", format!("#{body}"));
    let v = r.leakgate(&["check-staged", "--format", "json", "--max-blob-size", "100"]);
    v.code(0);
    assert_eq!(v.json()["skipped"][0]["path"], "edge.py");
}
