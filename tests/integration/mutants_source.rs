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
    let v = v.json();
    assert_eq!(v["skipped"][0]["path"], "edge.py");
    // Never silently: a note says the file was not scanned and how to scan it.
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("edge.py was NOT scanned") && notes.contains("raise the limit"),
        "{v:#}"
    );
}

/// The lines of `findings` in a JSON report.
fn lines(v: &serde_json::Value) -> Vec<u64> {
    let all = v["findings"].as_array().unwrap();
    all.iter().map(|f| f["line"].as_u64().unwrap()).collect()
}

/// Whether a line "only moved" is decided per line: a verdict remembered for one line (to
/// search a line holding many secrets once) must not carry over to a secret on another line.
#[test]
fn a_moved_secret_and_a_new_one_in_one_edit_are_judged_line_by_line() {
    let r = TestRepo::new();
    r.stage("a.py", format!("x = 1\nA = '{HF_A}'\n"));
    r.commit("base");
    // The old token moves up (and is re-indented); a new one is added below it.
    r.stage("a.py", format!("  A = '{HF_A}'\nx = 1\nB = '{HF_B}'\n"));
    assert_eq!(lines(&r.check_json(1)), [3]);
    // New first, moved second.
    r.stage("a.py", format!("B = '{HF_B}'\nx = 1\n  A = '{HF_A}'\n"));
    assert_eq!(lines(&r.check_json(1)), [1]);
}

/// A key block that starts on a line whose other secret only moved is still judged on its own
/// lines: the moved verdict of that line must not be reused for a secret running past it.
#[test]
fn a_new_key_starting_on_a_line_with_a_moved_token_is_reported() {
    let r = TestRepo::new();
    // Padding puts the line far into the file, so a line end computed wrongly (from its start
    // times its length) would reach past the whole key.
    let top: String = (0..20).map(|i| format!("setting_{i} = {i}\n")).collect();
    let head = format!("T = '{HF_A}' # -----BEGIN PRIVATE KEY-----\n");
    r.stage("k.py", format!("{top}{head}"));
    r.commit("base");
    let body = key_body(7, 10);
    r.stage(
        "k.py",
        format!("{top}  {head}{body}-----END PRIVATE KEY-----\n"),
    );
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "rule"), ["pem-private-key"], "{v:#}");
}
